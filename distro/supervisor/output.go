package supervisor

import (
	"bufio"
	"io"
	"os"
	"strings"

	"k8s.io/klog/v2"
)

// maxLine is the most of one line kept together; longer lines are logged in pieces.
const maxLine = 64 << 10

// logLines logs every line read from r through klog, prefixed with the component's name, so the
// child's output sits among distro's own logs in the same format. It returns at end of input.
func logLines(r io.Reader, name string) {
	prefix := name + ": "
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			klog.Info(prefix + strings.TrimRight(string(line), "\r\n"))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// output is where a child's stdout and stderr go.
type output struct {
	// w is handed to the child as both stdout and stderr; the parent closes its copy once the
	// child has started.
	w *os.File
	// r is the read end when the output is logged through klog, nil for a log file.
	r *os.File
}

// openOutput opens the log file when one is configured and a pipe to klog otherwise. A real file
// descriptor rather than an io.Writer keeps exec from tying Wait to the output: Wait returns
// when the child exits even if a grandchild holds the output open.
func (s *Supervisor) openOutput() (output, error) {
	if s.cfg.LogFile != "" {
		f, err := os.OpenFile(s.cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		return output{w: f}, err
	}
	r, w, err := os.Pipe()
	return output{w: w, r: r}, err
}

// started closes the parent's copy of the child's output and, for a pipe, begins logging.
func (o output) started(name string) {
	o.w.Close()
	if o.r != nil {
		go func() {
			defer o.r.Close()
			logLines(o.r, name)
		}()
	}
}

// failed releases the output of a child that never started.
func (o output) failed() {
	o.w.Close()
	if o.r != nil {
		o.r.Close()
	}
}
