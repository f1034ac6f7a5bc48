package bench

import (
	"fmt"
	"slices"
	"time"
)

// Unit says how a Stats value prints.
type Unit int

const (
	Seconds   Unit = iota // values in seconds
	Bytes                 // values in bytes, printed in MiB
	PerSecond             // rates, e.g. objects/s
	Ratio                 // dimensionless, e.g. sqlite/etcd
	Count                 // plain numbers
)

// Stats summarises repeated measurements of one quantity. A benchmark reports the median
// because this machine is shared: one slow run must not move the number.
type Stats struct {
	Unit             Unit
	N                int
	Median, Min, Max float64
}

// Summarize computes the median (the mean of the middle two for an even n), min and max.
func Summarize(u Unit, values ...float64) Stats {
	s := Stats{Unit: u, N: len(values)}
	if s.N == 0 {
		return s
	}
	v := slices.Clone(values)
	slices.Sort(v)
	s.Min, s.Max = v[0], v[len(v)-1]
	if mid := len(v) / 2; len(v)%2 == 1 {
		s.Median = v[mid]
	} else {
		s.Median = (v[mid-1] + v[mid]) / 2
	}
	return s
}

// Durations summarises times, in seconds.
func Durations(ds ...time.Duration) Stats {
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = d.Seconds()
	}
	return Summarize(Seconds, v...)
}

// Sizes summarises byte counts.
func Sizes(bs ...uint64) Stats {
	v := make([]float64, len(bs))
	for i, b := range bs {
		v[i] = float64(b)
	}
	return Summarize(Bytes, v...)
}

// String prints "median (min–max, n=N)" in the unit's form; one value prints without a range.
func (s Stats) String() string {
	if s.N == 0 {
		return "(no runs)"
	}
	if s.N == 1 {
		return fmt.Sprintf("%s (n=1)", s.Unit.format(s.Median))
	}
	return fmt.Sprintf("%s (%s–%s, n=%d)", s.Unit.format(s.Median), s.Unit.number(s.Min), s.Unit.format(s.Max), s.N)
}

// format prints a value with its unit.
func (u Unit) format(v float64) string {
	switch u {
	case Seconds:
		return fmt.Sprintf("%.2f s", v)
	case Bytes:
		return FormatBytes(uint64(v))
	case PerSecond:
		return fmt.Sprintf("%.1f /s", v)
	case Ratio:
		return fmt.Sprintf("%.2f×", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// number prints a value without its unit, for the low end of a range.
func (u Unit) number(v float64) string {
	switch u {
	case Seconds:
		return fmt.Sprintf("%.2f", v)
	case Bytes:
		return fmt.Sprintf("%.1f", v/(1<<20))
	case PerSecond:
		return fmt.Sprintf("%.1f", v)
	case Ratio:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// FormatBytes prints a byte count in MiB with one decimal.
func FormatBytes(b uint64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
