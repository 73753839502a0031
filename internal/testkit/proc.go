package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildBinary builds the streamrls command into a temporary directory, for
// a TestMain; cleanup removes it.
func BuildBinary() (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "streamrls-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "streamrls")
	out, err := exec.Command("go", "build", "-o", path, "github.com/streamrls/streamrls/cmd/streamrls").CombinedOutput()
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("go build streamrls: %v\n%s", err, out)
	}
	return path, cleanup, nil
}

// Buffer is a bytes.Buffer safe for one writer and many readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Proc is one running process of a test.
type Proc struct {
	Name           string
	Cmd            *exec.Cmd
	Stdout, Stderr Buffer
	Started        time.Time
	done           chan struct{}
	err            error
}

// Start runs bin with args (env adds to the environment). When the test
// ends the process is stopped, and a failed test shows the end of its
// stderr.
func Start(t testing.TB, bin, name string, env []string, args ...string) *Proc {
	t.Helper()
	p, err := Launch(bin, name, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s (%s) stderr:\n%s", p.Name, strings.Join(args, " "), Tail(p.Stderr.String(), 40))
		}
	})
	return p
}

// Launch is Start outside a test: the caller stops the process.
func Launch(bin, name string, env []string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.Stdout, &p.Stderr
	p.Started = time.Now()
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process ended (valid once Done is closed).
func (p *Proc) Err() error { return p.err }

// Exited says whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status (-1: killed by a signal or not run).
func (p *Proc) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// Output is everything the process wrote, stdout first.
func (p *Proc) Output() string { return p.Stdout.String() + p.Stderr.String() }

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits up to grace; a process still running then is
// killed and Stop says so. It returns how the process ended and how long
// it took.
func (p *Proc) Stop(grace time.Duration) (error, time.Duration) {
	t0 := time.Now()
	if p.Exited() {
		return p.err, 0
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err, time.Since(t0)
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s still running %v after SIGTERM (killed)", p.Name, grace), time.Since(t0)
	}
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// LogAddr waits for a log line containing msg and returns its addr=.
func (p *Proc) LogAddr(t testing.TB, msg string, timeout time.Duration) string {
	t.Helper()
	addr, err := p.WaitAddr(context.Background(), msg, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// WaitAddr is LogAddr outside a test.
func (p *Proc) WaitAddr(ctx context.Context, msg string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.Stderr.String(), "\n") {
			if strings.Contains(line, msg) {
				if m := addrRE.FindStringSubmatch(line); m != nil {
					return m[1], nil
				}
			}
		}
		if p.Exited() {
			return "", fmt.Errorf("%s exited (%v) before logging %q:\n%s", p.Name, p.err, msg, Tail(p.Stderr.String(), 40))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("%s: no %q log line after %v:\n%s", p.Name, msg, timeout, Tail(p.Stderr.String(), 40))
}

// HTTPURL waits for the process (started with --http) to log the address it
// listens on and returns its base URL.
func (p *Proc) HTTPURL(t testing.TB) string {
	t.Helper()
	return "http://" + p.LogAddr(t, `msg="http listening"`, 30*time.Second)
}

// Tail is the last lines lines of s.
func Tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
