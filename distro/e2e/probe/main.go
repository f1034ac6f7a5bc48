// Command probe is the program of the test image the end-to-end tests run in pods: a static
// binary that serves HTTP, fetches URLs and resolves names, so tests check pod networking,
// Services and DNS without any image from a registry.
//
//	probe serve :8080     answer every request with the pod's host name
//	probe get URL         print the body of URL; exit 1 unless it answers 200
//	probe lookup NAME     print NAME's addresses through the pod's resolv.conf
//	probe sleep           wait forever
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe serve ADDR | get URL | lookup NAME | sleep")
	}
	switch cmd, args := os.Args[1], os.Args[2:]; {
	case cmd == "serve" && len(args) == 1:
		host, _ := os.Hostname()
		fmt.Println("serving on", args[0])
		err := http.ListenAndServe(args[0], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, host)
		}))
		fail(err.Error())
	case cmd == "get" && len(args) == 1:
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get(args[0])
		if err != nil {
			fail(err.Error())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(string(body))
		if resp.StatusCode != http.StatusOK {
			fail(resp.Status)
		}
	case cmd == "lookup" && len(args) == 1:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, args[0])
		if err != nil {
			fail(err.Error())
		}
		fmt.Println(strings.Join(addrs, " "))
	case cmd == "sleep":
		for {
			time.Sleep(time.Hour)
		}
	default:
		fail("unknown command " + strings.Join(os.Args[1:], " "))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "probe:", msg)
	os.Exit(1)
}
