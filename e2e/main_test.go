// Package e2e tests streamrls as a user runs it: the real binary, real
// processes killed at random, the embedded broker stopped under load.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "streamrls-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "streamrls")
	build := exec.Command("go", "build", "-o", binary, "../cmd/streamrls")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build streamrls:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running streamrls process whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "streamrls-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logf.Name(), done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// stop sends SIGTERM and returns the exit error and how long it took.
func (p *proc) stop(timeout time.Duration) (error, time.Duration) {
	t0 := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err, time.Since(t0)
	case <-time.After(timeout):
		return fmt.Errorf("still running %v after SIGTERM", timeout), time.Since(t0)
	}
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}
