// Package codepages lets a long-running distro process give back the pages of its own
// executable that only start-up used.
//
// The distro binary is large (about 200 MB of code and read-only data), and starting any of its
// daemons runs the init functions of every package linked in, then the one-time setup of the
// components. The kernel maps the executable's pages as they are touched, 64 KiB around each
// fault, so an idle server keeps about 145 MB of the file mapped of which about 80 MB is code it
// keeps running. Drop unmaps the executable's clean, read-only mappings from this process
// (madvise MADV_DONTNEED); the pages stay in the page cache, and what the process still runs
// is mapped again by minor faults in the following seconds. Mappings holding private,
// modified pages (the relocated read-only part, the data segment) are left alone: unmapping
// them would lose the modifications.
package codepages

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// AfterReady is how long a daemon waits after its components are ready before dropping: long
// enough for the first informer syncs and the addons, whose code then runs only now and then.
const AfterReady = 30 * time.Second

// Range is one mapping of the executable that may be dropped.
type Range struct {
	Start, End uint64
}

// Len is the size of the range in bytes.
func (r Range) Len() uint64 { return r.End - r.Start }

// Drop unmaps this process's clean, read-only mappings of its executable and returns how many
// bytes of mappings it dropped (mapped size, not resident size).
func Drop() (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("the executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	ranges, err := Droppable(f, st.Dev, st.Ino)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("/proc/self/smaps: %w", err)
	}
	var dropped uint64
	for _, r := range ranges {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(r.Start), uintptr(r.Len()), unix.MADV_DONTNEED); errno != 0 {
			return dropped, fmt.Errorf("madvise %#x-%#x: %w", r.Start, r.End, errno)
		}
		dropped += r.Len()
	}
	return dropped, nil
}

// DropAfter waits for settle and then drops the start-up pages once, unless ctx ends first.
// report receives the outcome.
func DropAfter(ctx context.Context, settle time.Duration, report func(dropped uint64, err error)) {
	t := time.NewTimer(settle)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		report(Drop())
	}
}

// Log is a report for DropAfter: errors always, the size dropped at verbosity 1.
func Log(dropped uint64, err error) {
	if err != nil {
		klog.ErrorS(err, "could not drop the start-up pages of the executable")
		return
	}
	klog.V(1).InfoS("dropped the start-up pages of the executable", "mappedMiB", dropped>>20)
}

// Droppable reads smaps text and returns the private, read-only mappings of the file with the
// given device and inode that hold no modified pages.
func Droppable(smaps io.Reader, dev, ino uint64) ([]Range, error) {
	var out []Range
	var cur *mapping
	flush := func() {
		if cur != nil && cur.droppable(dev, ino) {
			out = append(out, Range{cur.start, cur.end})
		}
		cur = nil
	}
	sc := bufio.NewScanner(smaps)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m, ok := parseHeader(line); ok {
			flush()
			cur = &m
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("a field before the first mapping: %q", line)
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		// Pages written through a private mapping became anonymous copies (or were swapped
		// out). Dirty alone is no sign: a freshly written file's page-cache pages are dirty.
		case "Anonymous", "Swap":
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s of %#x: %q: %w", key, cur.start, value, err)
			}
			cur.modified += kb
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

type mapping struct {
	start, end uint64
	perms      string
	major      uint64
	minor      uint64
	ino        uint64
	modified   uint64 // kB of anonymous or swapped pages
}

func (m mapping) droppable(dev, ino uint64) bool {
	return m.ino == ino && unix.Mkdev(uint32(m.major), uint32(m.minor)) == dev &&
		len(m.perms) == 4 && m.perms[0] == 'r' && m.perms[1] == '-' && m.perms[3] == 'p' &&
		m.modified == 0
}

// parseHeader parses a mapping's first line: "start-end perms offset major:minor inode path".
func parseHeader(line string) (mapping, bool) {
	fields := strings.Fields(line)
	if len(fields) < 5 {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return mapping{}, false
	}
	var m mapping
	var err error
	if m.start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return mapping{}, false
	}
	if m.end, err = strconv.ParseUint(hi, 16, 64); err != nil || m.end <= m.start {
		return mapping{}, false
	}
	m.perms = fields[1]
	major, minor, ok := strings.Cut(fields[3], ":")
	if !ok {
		return mapping{}, false
	}
	if m.major, err = strconv.ParseUint(major, 16, 32); err != nil {
		return mapping{}, false
	}
	if m.minor, err = strconv.ParseUint(minor, 16, 32); err != nil {
		return mapping{}, false
	}
	if m.ino, err = strconv.ParseUint(fields[4], 10, 64); err != nil {
		return mapping{}, false
	}
	return m, true
}
