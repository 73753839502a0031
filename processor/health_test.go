package processor

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	var none *Health
	none.reading()
	none.settle(1, errors.New("x"))
	if err := none.Check(); err != nil {
		t.Errorf("nil Health: %v", err)
	}

	h := &Health{stall: 50 * time.Millisecond}
	if err := h.Check(); err != nil {
		t.Fatalf("a starting processor: %v", err)
	}
	// Input read and written in time.
	h.reading()
	h.reading()
	if err := h.Check(); err != nil {
		t.Errorf("input just read: %v", err)
	}
	h.settle(2, nil)
	time.Sleep(80 * time.Millisecond)
	if err := h.Check(); err != nil {
		t.Errorf("idle, nothing pending: %v", err)
	}
	// Input read after a long idle time is not late at once.
	h.reading()
	if err := h.Check(); err != nil {
		t.Errorf("input just read after an idle time: %v", err)
	}
	// Input left unwritten past the bound.
	time.Sleep(80 * time.Millisecond)
	if err := h.Check(); err == nil || !strings.Contains(err.Error(), "1 input messages read but not written") {
		t.Errorf("input unwritten past the bound: %v", err)
	}
	// A failed batch stops the processor until a rebuilt one runs.
	h.settle(1, errors.New("no space left on device"))
	if err := h.Check(); err == nil || !strings.Contains(err.Error(), "not running") ||
		!strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("after a failed batch: %v", err)
	}
	h.stopped(errors.New("later"))
	if err := h.Check(); err == nil || strings.Contains(err.Error(), "later") {
		t.Errorf("the first reason is kept: %v", err)
	}
	h.reading() // read by the stopped processor, never written
	h.running()
	if err := h.Check(); err != nil {
		t.Errorf("a rebuilt processor runs: %v", err)
	}
	time.Sleep(80 * time.Millisecond)
	if err := h.Check(); err != nil {
		t.Errorf("what the stopped processor read is read again, not pending: %v", err)
	}
}

func TestStallBound(t *testing.T) {
	if got := StallBound(Config{}); got != 3*DefaultBatchMaxInterval {
		t.Errorf("default stall bound %v, want 3 × %v", got, DefaultBatchMaxInterval)
	}
	if got := StallBound(Config{BatchMaxInterval: time.Minute}); got != 3*time.Minute {
		t.Errorf("stall bound %v, want 3m", got)
	}
	if got := StallBound(Config{NoBatchGrowth: true}); got != 3*DefaultBatchMaxInterval {
		t.Errorf("stall bound without growing batches %v, want 3 × %v", got, DefaultBatchMaxInterval)
	}
}
