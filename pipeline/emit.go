package pipeline

import (
	"context"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/progress"
)

// Emit runs the emitter with a progress bar on bar (os.Stderr when nil; a
// log line every 5 seconds when it is not a terminal) and logs the rate
// at the end. It stops at once when the brokers refuse the credentials.
func Emit(ctx context.Context, cfg emitter.Config, bar io.Writer) error {
	log := logger(cfg.Log)
	if bar == nil {
		bar = os.Stderr
	}
	if err := cfg.Kafka.CheckAuthOrWarn(ctx, log); err != nil {
		return err
	}
	var sent atomic.Int64
	start := time.Now()
	b := progress.New(cfg.Count, "emit", bar, progress.WithLogger(log), progress.WithUnit("samples"))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				b.Set(sent.Load())
			}
		}
	}()
	cfg.Sent = &sent
	n, err := emitter.Run(ctx, cfg)
	close(stop)
	<-done
	b.Set(n)
	b.Finish()
	el := time.Since(start)
	log.Info("emitted", "samples", n, "seconds", el.Seconds(), "samples_per_s", float64(n)/el.Seconds())
	return err
}
