package processor

import (
	"sync"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/schema"
)

// Snapshots says when the processor publishes a snapshot of a sensor's
// models (schema.Snapshot, JSON) to the snapshots topic. The zero value
// publishes none.
//
// A message that applied at least one sample is followed by a snapshot when
//   - it applied the sensor's first samples, or
//   - the sensor's sample count crossed a multiple of Every, or
//   - with Every 0 only: Interval has passed since this process last
//     published one for the sensor.
//
// So with a count rule a sensor gets at most one snapshot per Every of its
// own samples (and its first): the snapshots are at most 1/Every of the
// input samples whatever the number of sensors. A time rule next to it
// could add more (every message of a sensor updated less often than
// Interval would publish one: at many sensors, one snapshot per sample),
// so it only applies without one. Its last publishing time is
// kept in memory only: after a restart or a rebalance a sensor's first
// message may publish a snapshot earlier than Interval. Snapshots are ordinary emits of
// the message, after its state write; after a crash one may be published
// twice, and readers (history.Follower) drop a snapshot whose sample count they
// already hold.
type Snapshots struct {
	Every    uint64        // samples between snapshots; 0: no count rule
	Interval time.Duration // with Every 0: most time between snapshots of an updated sensor; 0: no time rule
}

// Enabled says whether any snapshot is published.
func (s Snapshots) Enabled() bool { return s.Every > 0 || s.Interval > 0 }

// Describe lists the bank's models. A state of another learner is
// published with its counts and no models.
func (s *BankState) Describe() []schema.Model { return codec.DescribeBank(s.Bank) }

// snapshotClock is the in-memory time of each sensor's last snapshot. The
// handler serves every partition of this process, so it is locked.
type snapshotClock struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due says whether a message that moved a sensor from prev to now samples
// publishes a snapshot at time t, and if so records t.
func (h *Handler) snapshotDue(sensor string, prev, now uint64, t time.Time) bool {
	p := h.Snapshots
	if !p.Enabled() || now == prev {
		return false
	}
	due := prev == 0 || (p.Every > 0 && now/p.Every > prev/p.Every)
	if p.Every > 0 || p.Interval <= 0 {
		return due
	}
	c := &h.snapshots
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]time.Time{}
	}
	if !due {
		last, ok := c.last[sensor]
		due = !ok || t.Sub(last) >= p.Interval
	}
	if due {
		c.last[sensor] = t
	}
	return due
}

// snapshot publishes rec's snapshot. A snapshot that cannot be encoded
// (it cannot happen with finite models) is logged and skipped: it must not
// stop the processor.
func (h *Handler) snapshot(ctx goka.Context, out output, rec *Record) {
	s := schema.Snapshot{
		Sensor: ctx.Key(), Group: h.Names.Group, Partition: rec.Partition, Offset: rec.Offset,
		Samples: rec.Samples, Rejected: rec.Rejected, Dim: int(rec.Dim), Models: []schema.Model{},
	}
	s.SetUpdated(rec.Updated)
	if d, ok := rec.State.(*BankState); ok {
		s.Models = d.Describe()
	}
	b, err := s.Encode()
	if err != nil {
		h.log().Error("snapshot not published", "sensor", ctx.Key(), "err", err)
		return
	}
	out.emit(ctx, h.Names.Snapshots, ctx.Key(), b, nil)
}
