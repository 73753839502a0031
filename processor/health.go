package processor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Health says whether a processor is working, for a liveness probe
// (/healthz). It is not: from the moment it stops on an error (a batch not
// written, a local table copy failed, goka stopped) until a rebuilt one has
// recovered its partitions; and while input it has read waits unwritten
// for longer than its stall bound (StallBound), which no working processor
// takes. A processor starting for the first time counts as working:
// recovering a large table takes as long as it takes. Safe for concurrent
// use; its methods do nothing on a nil *Health.
type Health struct {
	stall time.Duration // how long read input may wait unwritten

	read        atomic.Uint64 // input messages handed to the callback
	settled     atomic.Uint64 // of those, written or failed
	pendingFrom atomic.Int64  // unix nanoseconds: when read last went ahead of settled
	settledAt   atomic.Int64  // unix nanoseconds of the last settle

	mu        sync.Mutex
	down      error // why the processor is not running; nil: it runs (or starts)
	downSince time.Time
}

// NewHealth is the Health of a processor run with cfg (Config.Health).
func NewHealth(cfg Config) *Health { return &Health{stall: StallBound(cfg)} }

// StallBound is how long a processor run with cfg may leave input it has
// read unwritten before its Health says it does not work: 3 ×
// BatchMaxInterval, how long a catching-up batch may collect input, with
// room for writing it; at least 3 × DefaultBatchMaxInterval, so that short
// batches under load are not taken for a stall.
func StallBound(cfg Config) time.Duration {
	return 3 * max(cfg.withDefaults().BatchMaxInterval, DefaultBatchMaxInterval)
}

// Check returns nil while the processor works, else why it does not.
func (h *Health) Check() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	down, since := h.down, h.downSince
	h.mu.Unlock()
	if down != nil {
		return fmt.Errorf("processor not running since %s: %w", since.UTC().Format(time.RFC3339), down)
	}
	read, settled := h.read.Load(), h.settled.Load()
	if read <= settled || h.stall <= 0 {
		return nil
	}
	from := max(h.pendingFrom.Load(), h.settledAt.Load())
	if waited := time.Since(time.Unix(0, from)); waited > h.stall {
		return fmt.Errorf("%d input messages read but not written for %v (bound %v)",
			read-settled, waited.Round(time.Second), h.stall)
	}
	return nil
}

// reading counts one input message read.
func (h *Health) reading() {
	if h == nil {
		return
	}
	if h.read.Add(1)-1 == h.settled.Load() {
		h.pendingFrom.Store(time.Now().UnixNano())
	}
}

// settle counts n messages written, or failed (err: the processor stops).
func (h *Health) settle(n int, err error) {
	if h == nil {
		return
	}
	h.settledAt.Store(time.Now().UnixNano())
	h.settled.Add(uint64(n))
	if err != nil {
		h.stopped(err)
	}
}

// stopped records that the processor stopped, or is stopping, on err.
func (h *Health) stopped(err error) {
	if h == nil || err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == nil {
		h.down, h.downSince = err, time.Now()
	}
}

// running records that a processor has recovered its partitions and runs.
// What the stopped one read and will never write is forgotten: its input
// is read again.
func (h *Health) running() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = nil
	h.settledAt.Store(time.Now().UnixNano())
	h.settled.Store(h.read.Load())
}
