package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/streamrls/streamrls/topology"
)

// spawn starts n processor processes on names, each with its own state
// directory. stop sends them SIGTERM and waits (SIGKILL after 20s).
func (r *runner) spawn(ctx context.Context, names topology.Names, n int) (stop func(), failed <-chan error, err error) {
	fail := make(chan error, n)
	var cmds []*exec.Cmd
	var waits []chan struct{}
	stop = func() {
		for _, c := range cmds {
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
	}
	for i := range n {
		args := append([]string(nil), r.cfg.ProcessorCommand[1:]...)
		args = append(args,
			"--brokers", strings.Join(r.cfg.Kafka.Brokers, ","),
			"--topic", names.Input, "--group", names.Group, "--deadletter", names.DeadLetter,
			"--state-dir", r.dir(names.Group+"-p"+strconv.Itoa(i)),
			"--partitions", strconv.Itoa(r.cfg.Partitions),
			"--session-timeout", r.cfg.Kafka.SessionTimeout.String(),
			"--log-level", "warn",
		)
		for _, s := range r.cfg.Specs {
			args = append(args, "--model", s.String())
		}
		c := exec.Command(r.cfg.ProcessorCommand[0], args...)
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Start(); err != nil {
			stop()
			return nil, nil, fmt.Errorf("start processor %d (%s): %w", i, r.cfg.ProcessorCommand[0], err)
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
	return stop, fail, nil
}
