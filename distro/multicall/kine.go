package multicall

import (
	"context"
	"errors"
	"fmt"
	"os"

	kine "github.com/k3s-io/kine/pkg/app"
)

func init() {
	// kine as its own process, for datastores shared by several servers and for the
	// multi-process reference layout; the server runs it in-process.
	Register(Program{Name: "kine", Hidden: true, Run: runKine})
}

func runKine(args []string) int {
	if err := kine.New().Run(args); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "kine:", err)
		return 1
	}
	return 0
}
