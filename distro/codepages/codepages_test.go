package codepages

import (
	"context"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An excerpt of a static executable's mappings: code, read-only data, the relocated read-only
// part (modified pages), the data segment, another file, and anonymous memory.
const smaps = `00400000-00401000 r--p 00000000 fe:00 804707                             /var/lib/distro/data/abc/bin/distro
Size:                  4 kB
Rss:                   4 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me dw sd
00401000-05d51000 r-xp 00001000 fe:00 804707                             /var/lib/distro/data/abc/bin/distro (deleted)
Size:              91456 kB
Rss:               77180 kB
Shared_Dirty:          0 kB
Private_Dirty:       668 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd ex mr mw me dw sd
0c379000-0c37f000 r--p 0bf79000 fe:00 804707                             /var/lib/distro/data/abc/bin/distro
Size:                 24 kB
Private_Dirty:         8 kB
Anonymous:             4 kB
Swap:                  4 kB
VmFlags: rd mr mw me dw ac sd
0c37f000-0c56d000 rw-p 0bf7f000 fe:00 804707                             /var/lib/distro/data/abc/bin/distro
Size:               1976 kB
Anonymous:             0 kB
VmFlags: rd wr mr mw me dw ac sd
7f0000000000-7f0000001000 r--p 00000000 fe:00 11                         /usr/lib/locale/C.utf8/LC_CTYPE
Size:                  4 kB
Anonymous:             0 kB
7f0000002000-7f0000003000 r--p 00000000 00:00 0 
Size:                  4 kB
Anonymous:             0 kB
7ffd4c9f3000-7ffd4ca14000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
`

func TestDroppableKeepsModifiedAndWritableMappings(t *testing.T) {
	got, err := Droppable(strings.NewReader(smaps), unix.Mkdev(0xfe, 0), 804707)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{0x400000, 0x401000}, {0x401000, 0x5d51000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("droppable %#v, want %#v", got, want)
	}
	if got, _ := Droppable(strings.NewReader(smaps), unix.Mkdev(0xfe, 1), 804707); len(got) != 0 {
		t.Errorf("another device's file: %#v", got)
	}
}

func TestDroppableRejectsGarbage(t *testing.T) {
	for name, text := range map[string]string{
		"a field first":   "Anonymous: 0 kB\n",
		"a bad page size": "00400000-00401000 r--p 00000000 fe:00 804707 /bin/distro\nAnonymous: many kB\n",
	} {
		if _, err := Droppable(strings.NewReader(text), unix.Mkdev(0xfe, 0), 804707); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// initialized lives in the executable's data segment, a private writable file mapping.
var initialized = [4]int{1, 2, 3, 4}

func TestDropGivesBackMappedPagesAndTheProcessKeepsWorking(t *testing.T) {
	initialized[0] = 42
	before := rssFileKB(t)
	dropped, err := Drop()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("dropped %d MiB of mappings; file-backed RSS %d kB → %d kB", dropped>>20, before, after)
	if dropped == 0 || after >= before {
		t.Errorf("dropped %d bytes, file-backed RSS %d kB → %d kB", dropped, before, after)
	}
	// Code and read-only data come back; the data segment kept its change.
	if got := strconv.Itoa(initialized[0]) + strings.Repeat("!", 2); got != "42!!" || initialized[3] != 4 {
		t.Errorf("after the drop: %q %v", got, initialized)
	}
	if _, err := Drop(); err != nil {
		t.Errorf("a second drop: %v", err)
	}
}

func TestDropAfterWaitsAndStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	DropAfter(ctx, time.Hour, func(uint64, error) { t.Error("dropped after the context ended") })

	done := make(chan uint64, 1)
	start := time.Now()
	DropAfter(context.Background(), 50*time.Millisecond, func(n uint64, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- n
	})
	if n := <-done; n == 0 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("dropped %d bytes after %s", n, time.Since(start))
	}
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
