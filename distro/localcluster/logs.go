package localcluster

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A klog fatal line (F1129 14:41:07.123456 ...) or a Go runtime crash: what ended a node. Both
// are followed by every goroutine's stack, so the cause lies far above the log's last lines.
var fatalStart = regexp.MustCompile(`(?m)^(F\d{4} \d\d:\d\d:\d\d|panic: |fatal error: )`)

// Excerpt is the part of a node's log that tells why it failed: the first lines of whatever
// ended the process, if something did, and the last lines.
func Excerpt(log string) string {
	log = strings.TrimRight(log, "\n")
	var b strings.Builder
	if at := fatalStart.FindStringIndex(log); at != nil {
		b.WriteString("what ended it:\n")
		b.WriteString(firstLines(log[at[0]:], 40))
		b.WriteString("\n...\n")
	}
	b.WriteString("its last lines:\n")
	b.WriteString(lastLines(log, 30))
	return b.String()
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ReportLogs logs an excerpt of every started node's log and, when keep is set, copies the
// whole logs into that directory: a failed cluster's directory goes with it.
func (c *Cluster) ReportLogs(log func(string, ...any), keep string) {
	for _, n := range c.Nodes {
		data, err := os.ReadFile(n.Log)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			log("%s: %v", n.Name, err)
			continue
		}
		log("%s's log (%s)\n%s", n.Name, n.Log, Excerpt(string(data)))
		if keep == "" {
			continue
		}
		dst := filepath.Join(keep, n.Name+".log")
		if err := os.MkdirAll(keep, 0o755); err == nil {
			err = os.WriteFile(dst, data, 0o644)
		}
		if err != nil {
			log("keeping %s's log in %s: %v", n.Name, dst, err)
		}
	}
}
