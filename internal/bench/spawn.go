package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streamrls/streamrls/topology"
)

// spawn starts n processor processes on names at the batch interval, each
// with its own state directory. stop sends them SIGTERM and waits (SIGKILL after 20s); it may
// be called more than once. hold(true) stops them (SIGSTOP), hold(false)
// continues them. Their session timeout is at least 30s, so that the group
// keeps them while they are held.
func (r *runner) spawn(ctx context.Context, names topology.Names, n int, interval time.Duration) (stop func(), failed <-chan error, hold func(bool) error, err error) {
	fail := make(chan error, n)
	var cmds []*exec.Cmd
	var waits []chan struct{}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, c := range cmds {
				_ = c.Process.Signal(syscall.SIGCONT)
				_ = c.Process.Signal(syscall.SIGTERM)
			}
			for i, w := range waits {
				select {
				case <-w:
				case <-time.After(20 * time.Second):
					_ = cmds[i].Process.Kill()
					<-w
				}
			}
		})
	}
	hold = func(on bool) error {
		sig := syscall.SIGCONT
		if on {
			sig = syscall.SIGSTOP
		}
		for _, c := range cmds {
			if err := c.Process.Signal(sig); err != nil {
				return fmt.Errorf("signal processor process %d: %w", c.Process.Pid, err)
			}
		}
		return nil
	}
	for i := range n {
		args := append([]string(nil), r.cfg.ProcessorCommand[1:]...)
		args = append(args,
			"--brokers", strings.Join(r.cfg.Kafka.Brokers, ","),
			"--topic", names.Input, "--group", names.Group, "--deadletter", names.DeadLetter,
			"--state-dir", r.dir(names.Group+"-p"+strconv.Itoa(i)),
			"--partitions", strconv.Itoa(r.cfg.Partitions),
			"--session-timeout", max(r.cfg.Kafka.SessionTimeout, 30*time.Second).String(),
			"--log-level", "warn",
		)
		args = append(args, r.batchArgs(interval)...)
		for _, s := range r.cfg.Specs {
			args = append(args, "--model", s.String())
		}
		c := exec.Command(r.cfg.ProcessorCommand[0], args...)
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Start(); err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("start processor %d (%s): %w", i, r.cfg.ProcessorCommand[0], err)
		}
		cmds = append(cmds, c)
		w := make(chan struct{})
		waits = append(waits, w)
		go func() {
			err := c.Wait()
			close(w)
			if ctx.Err() == nil {
				fail <- fmt.Errorf("processor process %d exited: %v", c.Process.Pid, err)
			}
		}()
	}
	return stop, fail, hold, nil
}
