// Package progress shows how far a long job (emit, replay) has got: on a
// terminal a bar with count, rate and ETA (github.com/schollz/progressbar),
// and otherwise — a pipe, a log file, CI — a plain slog line every few
// seconds, so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// DefaultInterval is how often a Bar logs when w is not a terminal.
const DefaultInterval = 5 * time.Second

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Option configures a Bar.
type Option func(*Bar)

// WithLogger sets the logger of the non-terminal mode (default: a text slog
// handler on w).
func WithLogger(l *slog.Logger) Option { return func(b *Bar) { b.log = l } }

// WithInterval sets how often the non-terminal mode logs (default
// DefaultInterval).
func WithInterval(d time.Duration) Option { return func(b *Bar) { b.interval = d } }

// WithUnit names what is counted (default "samples").
func WithUnit(unit string) Option { return func(b *Bar) { b.unit = unit } }

// WithTerminal overrides terminal detection (tests, --progress flags).
func WithTerminal(on bool) Option { return func(b *Bar) { b.tty = &on } }

// Bar is the progress of one job. Add, Set and Finish may be called from any
// goroutine; after Finish they do nothing.
type Bar struct {
	total    int64
	label    string
	unit     string
	w        io.Writer
	log      *slog.Logger
	interval time.Duration
	tty      *bool

	start    time.Time
	done     atomic.Int64
	bar      *progressbar.ProgressBar // terminal mode
	stop     chan struct{}            // log mode
	wg       sync.WaitGroup
	finished sync.Once
}

// New starts showing the progress of a job of total units (total ≤ 0:
// unknown, no percentage or ETA) on w.
func New(total int64, label string, w io.Writer, opts ...Option) *Bar {
	b := &Bar{total: total, label: label, unit: "samples", w: w, interval: DefaultInterval, start: time.Now()}
	for _, o := range opts {
		o(b)
	}
	tty := IsTerminal(w)
	if b.tty != nil {
		tty = *b.tty
	}
	if tty {
		max := total
		if max <= 0 {
			max = -1 // a spinner
		}
		b.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(b.unit),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			progressbar.OptionSetRenderBlankState(true),
		)
		return b
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(w, nil))
	}
	if b.interval <= 0 {
		b.interval = DefaultInterval
	}
	b.stop = make(chan struct{})
	b.wg.Add(1)
	go b.logLoop()
	return b
}

// Add counts n more units done.
func (b *Bar) Add(n int64) { b.Set(b.done.Add(n)) }

// Set sets the units done so far.
func (b *Bar) Set(n int64) {
	b.done.Store(n)
	if b.bar != nil {
		_ = b.bar.Set64(n)
	}
}

// Finish stops the display with a last line.
func (b *Bar) Finish() {
	b.finished.Do(func() {
		if b.bar != nil {
			if b.total > 0 && b.done.Load() >= b.total {
				_ = b.bar.Finish()
			} else {
				_ = b.bar.Exit()
				fmt.Fprintln(b.w)
			}
			return
		}
		close(b.stop)
		b.wg.Wait()
		b.logLine("finished")
	})
}

func (b *Bar) logLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.logLine("progress")
		}
	}
}

// Stats is a snapshot of the progress.
type Stats struct {
	Done, Total int64
	Elapsed     time.Duration
	Rate        float64       // units per second since the start
	ETA         time.Duration // -1 when unknown
}

// Stats returns the progress so far.
func (b *Bar) Stats() Stats {
	done := b.done.Load()
	el := time.Since(b.start)
	s := Stats{Done: done, Total: b.total, Elapsed: el, ETA: -1}
	if el > 0 {
		s.Rate = float64(done) / el.Seconds()
	}
	if b.total > 0 && s.Rate > 0 {
		s.ETA = time.Duration(float64(max(b.total-done, 0)) / s.Rate * float64(time.Second))
	}
	return s
}

func (b *Bar) logLine(msg string) {
	s := b.Stats()
	attrs := []any{"job", b.label, b.unit, s.Done, "elapsed", s.Elapsed.Round(time.Millisecond), "rate_per_s", round(s.Rate)}
	if s.Total > 0 {
		attrs = append(attrs, "total", s.Total, "percent", round(100*float64(s.Done)/float64(s.Total)))
		if s.ETA >= 0 && msg != "finished" {
			attrs = append(attrs, "eta", s.ETA.Round(time.Second))
		}
	}
	b.log.Info(msg, attrs...)
}

func round(v float64) float64 {
	if v >= 100 {
		return float64(int64(v + 0.5))
	}
	return float64(int64(v*10+0.5)) / 10
}
