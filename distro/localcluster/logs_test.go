package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExcerptShowsWhatEndedTheNodeAndTheLastLines(t *testing.T) {
	var log strings.Builder
	for i := range 100 {
		fmt.Fprintf(&log, "I1129 14:00:%02d.000000 1 serving.go:1] line %d\n", i%60, i)
	}
	log.WriteString(`F1129 14:01:40.000000 1 hooks.go:203] PostStartHook "start-service-ip-repair-controllers" failed` + "\n")
	for i := range 200 {
		fmt.Fprintf(&log, "goroutine %d [select]:\n", i)
	}
	got := Excerpt(log.String())
	if !strings.Contains(got, "what ended it:\nF1129 14:01:40.000000 1 hooks.go:203] PostStartHook") {
		t.Errorf("the fatal line is missing:\n%s", got)
	}
	if !strings.HasSuffix(got, "goroutine 199 [select]:") || strings.Contains(got, "line 50\n") {
		t.Errorf("want the last 30 lines only:\n%s", got)
	}

	crash := "I1129 started\npanic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n"
	if got := Excerpt(crash); !strings.HasPrefix(got, "what ended it:\npanic: runtime error") {
		t.Errorf("the panic is missing:\n%s", got)
	}
	if got := Excerpt("I1129 one\nI1129 two\n"); got != "its last lines:\nI1129 one\nI1129 two" {
		t.Errorf("a log without a crash: %q", got)
	}
}

func TestReportLogsKeepsTheStartedNodesLogs(t *testing.T) {
	dir := t.TempDir()
	c := &Cluster{Nodes: []Node{
		{Name: "server-0", Log: filepath.Join(dir, "server-0.log")},
		{Name: "agent-1", Log: filepath.Join(dir, "agent-1.log")}, // never started
	}}
	os.WriteFile(c.Nodes[0].Log, []byte("I1129 up\nfatal error: concurrent map writes\n"), 0o600)
	var lines []string
	keep := filepath.Join(dir, "keep")
	c.ReportLogs(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }, keep)
	if len(lines) != 1 || !strings.Contains(lines[0], "fatal error: concurrent map writes") {
		t.Errorf("logged %q", lines)
	}
	if data, err := os.ReadFile(filepath.Join(keep, "server-0.log")); err != nil || !strings.HasPrefix(string(data), "I1129 up") {
		t.Errorf("kept log: %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(keep, "agent-1.log")); !os.IsNotExist(err) {
		t.Errorf("a node that never started has a kept log: %v", err)
	}
}
