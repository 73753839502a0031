package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/topology"
)

// spawn starts n processor processes on names at the batch interval, each
// with its own state directory. stop sends them SIGTERM and waits (SIGKILL
// after stopGrace); it may be called more than once. hold(true) stops them
// (SIGSTOP), hold(false) continues them. Their session timeout is at least
// 30s, so that the group keeps them while they are held.
func (r *runner) spawn(ctx context.Context, names topology.Names, n int, interval time.Duration) (stop func(), failed <-chan error, hold func(bool) error, err error) {
	fail := make(chan error, n)
	var procs []*testkit.Proc
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, p := range procs {
				_ = p.Cmd.Process.Signal(syscall.SIGCONT)
				_ = p.Cmd.Process.Signal(syscall.SIGTERM)
			}
			for _, p := range procs {
				stopChild(p)
			}
		})
	}
	hold = func(on bool) error {
		sig := syscall.SIGCONT
		if on {
			sig = syscall.SIGSTOP
		}
		for _, p := range procs {
			if err := p.Cmd.Process.Signal(sig); err != nil {
				return fmt.Errorf("signal %s: %w", p.Name, err)
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
		p, err := testkit.Launch(r.cfg.ProcessorCommand[0], "processor process "+strconv.Itoa(i), nil, args...)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		procs = append(procs, p)
		go func() {
			<-p.Done()
			if ctx.Err() == nil {
				fail <- failure(p)
			}
		}()
	}
	return stop, fail, hold, nil
}
