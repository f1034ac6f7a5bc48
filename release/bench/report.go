package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Machine is what a reader needs to compare numbers across machines.
type Machine struct {
	CPUs     int    // usable cores (the process's affinity mask, as nproc counts)
	MemTotal uint64 // bytes, MemTotal of /proc/meminfo
}

// ReadMachine reads the core count and the memory of this machine.
func ReadMachine() (Machine, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return Machine{}, err
	}
	mem, err := meminfoTotal(data)
	if err != nil {
		return Machine{}, err
	}
	return Machine{CPUs: runtime.NumCPU(), MemTotal: mem}, nil
}

func meminfoTotal(data []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			return parseKB(rest)
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no MemTotal line")
}

// parseKB reads "   1234 kB" as bytes.
func parseKB(s string) (uint64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("%q is not a kB value", strings.TrimSpace(s))
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a kB value", strings.TrimSpace(s))
	}
	return n * 1024, nil
}

func (m Machine) String() string {
	return fmt.Sprintf("%d cores, %.1f GiB memory", m.CPUs, float64(m.MemTotal)/(1<<30))
}

// Report collects the lines of one benchmark. Its header always states the machine and
// the number of runs, so a number is never printed without them.
type Report struct {
	Title   string
	Machine Machine
	Runs    int
	rows    [][2]string
	notes   []string
}

// NewReport starts a report for runs repetitions on this machine.
func NewReport(title string, runs int) (*Report, error) {
	m, err := ReadMachine()
	if err != nil {
		return nil, err
	}
	return &Report{Title: title, Machine: m, Runs: runs}, nil
}

// Add records a summarised measurement.
func (r *Report) Add(label string, s Stats) { r.rows = append(r.rows, [2]string{label, s.String()}) }

// Value records a single value printed as given (a hash, a size measured once, a verdict).
func (r *Report) Value(label, value string) { r.rows = append(r.rows, [2]string{label, value}) }

// Note records a sentence printed after the numbers: how something was measured, what was
// skipped and why.
func (r *Report) Note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// WriteTo prints the header, the rows aligned, then the notes.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s — %s; %d run(s), medians with min–max\n", r.Title, r.Machine, r.Runs)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, row := range r.rows {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	tw.Flush()
	for _, n := range r.notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}
