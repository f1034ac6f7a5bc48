// Package supervisor runs a child process as a component: it logs the child's output, restarts
// it with exponential backoff when it exits on its own, reports a failure when it keeps exiting,
// and stops it gracefully. containerd, run as the distro executable re-exec'd under the name
// "containerd", is its first user.
//
// The child runs in its own process group, so a Ctrl-C at distro's terminal reaches distro alone
// and distro decides the order of shutdown. On Linux the child is killed when distro dies,
// unless KeepRunning is set.
//
// With a pid file, a distro that starts while a child of an earlier run is still running
// replaces that child: it checks that the pid names the same executable under the same argv[0],
// stops it gracefully and starts a fresh one. Replacing rather than adopting keeps one code path
// for a child distro can wait on, restart and read the output of; containerd restarts cleanly
// while its shims keep the pods running.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const DefaultStopTimeout = 30 * time.Second

// Config says what child to run and how.
type Config struct {
	// Name identifies the child in logs, errors and the prefix of its output lines.
	Name string
	// Path is the executable, looked up in PATH when it has no slash.
	Path string
	// Arg0 is the child's argv[0]; empty means Path. The multicall distro binary chooses what
	// to run by it.
	Arg0 string
	// Args follow argv[0].
	Args []string
	// Env is the child's whole environment; nil passes on distro's own.
	Env []string
	// Dir is the child's working directory; empty means distro's.
	Dir string
	// LogFile, when set, receives the child's stdout and stderr as they are; otherwise each
	// line is logged through klog prefixed with Name.
	LogFile string
	// PidFile, when set, holds the running child's pid so the next distro can replace it.
	PidFile string
	// StopTimeout is how long Stop waits after SIGTERM before it kills the child; zero means
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// KeepRunning lets the child outlive distro, as containerd must so pods keep running while
	// distro restarts. Stop then detaches and leaves the child running; Terminate still stops
	// it. It requires LogFile: a child writing to a pipe nobody reads anymore dies of SIGPIPE.
	KeepRunning bool
	// Restart says how a child that exits on its own is started again.
	Restart RestartPolicy
}

// Supervisor runs one child process as a component.
type Supervisor struct {
	cfg Config

	mu         sync.Mutex
	path       string // Path resolved to an absolute path without symlinks
	report     func(error)
	fork       *forkThread
	current    *child
	done       chan struct{} // closed when supervision ended; nil until started
	stopping   chan struct{} // closed to end supervision
	endOnce    sync.Once
	detached   bool
	terminated bool
}

var (
	_ component.Component       = (*Supervisor)(nil)
	_ component.FailureReporter = (*Supervisor)(nil)
)

// child is one run of the process.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed once the process has exited and been reaped
	ended   time.Time     // set before exited is closed
	err     error         // the exit status, set before exited is closed
}

func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// New returns a supervisor for the child cfg describes; nothing runs before Start.
func New(cfg Config) *Supervisor {
	cfg.Args = slices.Clone(cfg.Args)
	cfg.Env = slices.Clone(cfg.Env)
	return &Supervisor{cfg: cfg}
}

// Name implements component.Component.
func (s *Supervisor) Name() string { return s.cfg.Name }

// ReportFailuresTo implements component.FailureReporter: report receives the cause when the
// child keeps exiting and the supervisor gives up on it.
func (s *Supervisor) ReportFailuresTo(report func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.report = report
}

// Init checks the configuration and creates the directories of the pid and log files.
func (s *Supervisor) Init(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.prepare(); err != nil {
		return err
	}
	var errs []error
	for _, f := range []string{s.cfg.PidFile, s.cfg.LogFile} {
		if f != "" {
			errs = append(errs, os.MkdirAll(filepath.Dir(f), 0o755))
		}
	}
	return errors.Join(errs...)
}

// prepare checks the configuration and resolves Path; all problems are returned at once.
func (s *Supervisor) prepare() error {
	var errs []error
	if s.cfg.Name == "" {
		errs = append(errs, errors.New("supervisor has no name"))
	}
	if s.cfg.Path == "" {
		errs = append(errs, errors.New("no executable path"))
	} else if path, err := resolve(s.cfg.Path); err != nil {
		errs = append(errs, err)
	} else {
		s.path = path
	}
	if s.cfg.KeepRunning && s.cfg.LogFile == "" {
		errs = append(errs, errors.New("a child that keeps running after distro exits needs a log file"))
	}
	if s.cfg.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("stop timeout is negative: %s", s.cfg.StopTimeout))
	}
	errs = append(errs, s.cfg.Restart.validate())
	return errors.Join(errs...)
}

func resolve(path string) (string, error) {
	path, err := exec.LookPath(path)
	if err != nil {
		return "", err
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(path)
}

func (s *Supervisor) arg0() string {
	if s.cfg.Arg0 != "" {
		return s.cfg.Arg0
	}
	return s.cfg.Path
}

func (s *Supervisor) stopTimeout() time.Duration {
	if s.cfg.StopTimeout > 0 {
		return s.cfg.StopTimeout
	}
	return DefaultStopTimeout
}

// Start replaces a child an earlier distro left running (see PidFile), starts the child and
// returns; supervision goes on in the background until Stop or Terminate. ctx bounds the
// replacement only.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return fmt.Errorf("%s: already started", s.cfg.Name)
	}
	if err := s.prepare(); err != nil {
		return err
	}
	if s.cfg.PidFile != "" {
		if err := s.replaceLeftover(ctx); err != nil {
			return fmt.Errorf("replacing the %s an earlier run left: %w", s.cfg.Name, err)
		}
	}
	s.fork = newForkThread()
	c, err := s.spawn()
	if err != nil {
		s.fork.close()
		return err
	}
	s.current = c
	s.stopping = make(chan struct{})
	s.done = make(chan struct{})
	go s.supervise(c)
	return nil
}

// spawn starts one run of the child.
func (s *Supervisor) spawn() (*child, error) {
	out, err := s.openOutput()
	if err != nil {
		return nil, fmt.Errorf("opening the output of %s: %w", s.cfg.Name, err)
	}
	cmd := &exec.Cmd{
		Path:        s.path,
		Args:        append([]string{s.arg0()}, s.cfg.Args...),
		Env:         s.cfg.Env,
		Dir:         s.cfg.Dir,
		Stdout:      out.w,
		Stderr:      out.w,
		SysProcAttr: sysProcAttr(s.cfg.KeepRunning),
	}
	if err := s.fork.do(cmd.Start); err != nil {
		out.failed()
		return nil, fmt.Errorf("starting %s: %w", s.cfg.Name, err)
	}
	out.started(s.cfg.Name)
	c := &child{cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		c.ended, c.err = time.Now(), err
		close(c.exited)
	}()
	klog.InfoS("Started child process", "component", s.cfg.Name, "pid", cmd.Process.Pid)
	if s.cfg.PidFile != "" {
		// The child runs either way; without the file only the next run's replacement is lost.
		if err := writePidFile(s.cfg.PidFile, cmd.Process.Pid); err != nil {
			klog.ErrorS(err, "Cannot write pid file", "component", s.cfg.Name, "path", s.cfg.PidFile)
		}
	}
	return c, nil
}

// supervise waits for the child to exit and restarts it until told to stop or until the restart
// policy gives up.
func (s *Supervisor) supervise(c *child) {
	defer close(s.done)
	restarts := newRestarts(s.cfg.Restart)
	for {
		select {
		case <-c.exited:
		case <-s.stopping:
			return
		}
		klog.ErrorS(c.err, "Child process exited unexpectedly", "component", s.cfg.Name, "ranFor", c.ended.Sub(c.started))
		delay, err := restarts.afterExit(c.started, c.ended)
		if err != nil {
			s.fail(fmt.Errorf("%w; last exit: %v", err, exitReason(c.err)))
			return
		}
		klog.InfoS("Restarting child process", "component", s.cfg.Name, "after", delay)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-s.stopping:
			timer.Stop()
			return
		}
		next, err := s.spawn()
		if err != nil {
			next = &child{started: time.Now(), ended: time.Now(), err: err, exited: make(chan struct{})}
			close(next.exited) // a start that fails counts as one more exit
		}
		s.mu.Lock()
		s.current = next
		s.mu.Unlock()
		c = next
	}
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (s *Supervisor) fail(err error) {
	klog.ErrorS(err, "Giving up on child process", "component", s.cfg.Name)
	if s.cfg.PidFile != "" {
		os.Remove(s.cfg.PidFile)
	}
	s.mu.Lock()
	report := s.report
	s.mu.Unlock()
	if report != nil {
		report(err)
	}
}

// Pid returns the pid of the running child, or 0 when none runs.
func (s *Supervisor) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil || s.current.cmd == nil || !s.current.running() {
		return 0
	}
	return s.current.cmd.Process.Pid
}

// Stop ends supervision. Without KeepRunning it then stops the child as Terminate does; with
// KeepRunning it detaches: the child keeps running, unsupervised, and its pid file stays for
// the next distro to find.
func (s *Supervisor) Stop(ctx context.Context) error {
	if s.cfg.KeepRunning {
		s.Detach()
		return nil
	}
	return s.Terminate(ctx)
}

// Detach ends supervision and leaves the child running.
func (s *Supervisor) Detach() {
	c := s.endSupervision()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == nil || s.detached {
		return
	}
	s.detached = true
	s.fork.close()
	if c.running() { // a child whose start failed never runs
		klog.InfoS("Leaving child process running", "component", s.cfg.Name, "pid", c.cmd.Process.Pid)
	}
}

// Terminate ends supervision and stops the child: SIGTERM, then SIGKILL if it has not exited
// within StopTimeout or once ctx is done, and waits until it is gone. It returns an error when
// the child had to be killed.
func (s *Supervisor) Terminate(ctx context.Context) error {
	c := s.endSupervision()
	if c == nil {
		return nil
	}
	err := s.terminate(ctx, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.terminated {
		s.terminated = true
		s.fork.close()
		if s.cfg.PidFile != "" {
			os.Remove(s.cfg.PidFile)
		}
	}
	return err
}

// endSupervision stops restarts and returns the last child, or nil when Start never succeeded.
func (s *Supervisor) endSupervision() *child {
	s.mu.Lock()
	done, stopping := s.done, s.stopping
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	s.endOnce.Do(func() { close(stopping) })
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *Supervisor) terminate(ctx context.Context, c *child) error {
	if !c.running() {
		return nil
	}
	pid := c.cmd.Process.Pid
	klog.InfoS("Stopping child process", "component", s.cfg.Name, "pid", pid)
	// Only the child is signalled, not its process group: containerd's shims must outlive it.
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		klog.ErrorS(err, "Cannot send SIGTERM", "component", s.cfg.Name, "pid", pid)
	}
	timeout := s.stopTimeout()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var why error
	select {
	case <-c.exited:
		return nil
	case <-timer.C:
		why = fmt.Errorf("%s did not exit within %s of SIGTERM", s.cfg.Name, timeout)
	case <-ctx.Done():
		why = fmt.Errorf("%s still stopping when told to hurry: %w", s.cfg.Name, context.Cause(ctx))
	}
	klog.InfoS("Killing child process", "component", s.cfg.Name, "pid", pid, "reason", why)
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return errors.Join(why, fmt.Errorf("killing %s: %w", s.cfg.Name, err))
	}
	<-c.exited
	return fmt.Errorf("%w; killed", why)
}
