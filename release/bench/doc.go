// Package bench holds what every distro benchmark shares: summaries of repeated
// measurements (median, min, max, n), a report that always names the machine and the
// number of runs, memory of a whole process tree read from /proc, and a poller that times
// how long until a check first succeeds.
//
// Benchmarks print numbers; nothing here judges them.
package bench
