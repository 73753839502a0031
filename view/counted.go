package view

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka/storage"

	"github.com/streamrls/streamrls/codec"
)

// counted is a partition's local table copy that keeps its number of
// sensors and their samples' sum, so that Count and Totals cost nothing
// per call. It counts once, in one pass, when goka has recovered the
// partition (recovery writes pass straight through: a lookup per write
// would double the time a cold view takes to load), and from then on
// keeps the sums on every write goka makes (Set, or Delete for a
// tombstone), looking the key up first to tell a new sensor from an
// update. goka writes a partition from one goroutine, MarkRecovered
// included.
type counted struct {
	storage.Storage
	ids     *idSet      // the partition's sensor IDs, kept with the sums
	live    atomic.Bool // the sums and ids are valid and kept
	once    sync.Once
	sensors atomic.Int64
	samples atomic.Int64
}

// MarkRecovered counts what the recovered copy holds.
func (c *counted) MarkRecovered() error {
	if err := c.Storage.MarkRecovered(); err != nil {
		return err
	}
	var err error
	c.once.Do(func() {
		var n, s int64
		if n, s, err = c.count(); err == nil {
			c.sensors.Store(n)
			c.samples.Store(s)
			c.live.Store(true)
		}
	})
	return err
}

func (c *counted) count() (sensors, samples int64, err error) {
	it, err := c.Storage.Iterator()
	if err != nil {
		return 0, 0, fmt.Errorf("count local table: %w", err)
	}
	defer it.Release()
	for it.Next() {
		if !isSensor(it.Key()) {
			continue
		}
		b, err := it.Value()
		if err != nil {
			return 0, 0, fmt.Errorf("count local table: %w", err)
		}
		sensors++
		samples += samplesOf(b)
		c.ids.add(string(it.Key()))
	}
	if err := it.Err(); err != nil {
		return 0, 0, fmt.Errorf("count local table: %w", err)
	}
	return sensors, samples, nil
}

// samplesOf is a table value's sample count, 0 for none or one that does
// not decode (Get reports those).
func samplesOf(b []byte) int64 {
	if b == nil {
		return 0
	}
	m, _, err := codec.SplitEnvelope(b)
	if err != nil {
		return 0
	}
	return int64(m.Samples)
}

func (c *counted) Set(key string, value []byte) error {
	if !c.live.Load() || !isSensor([]byte(key)) {
		return c.Storage.Set(key, value)
	}
	old, err := c.Storage.Get(key)
	if err != nil {
		return err
	}
	was := samplesOf(old)
	if err := c.Storage.Set(key, value); err != nil {
		return err
	}
	if old == nil {
		c.sensors.Add(1)
		c.ids.add(key)
	}
	c.samples.Add(samplesOf(value) - was)
	return nil
}

func (c *counted) Delete(key string) error {
	if !c.live.Load() || !isSensor([]byte(key)) {
		return c.Storage.Delete(key)
	}
	old, err := c.Storage.Get(key)
	if err != nil {
		return err
	}
	if err := c.Storage.Delete(key); err != nil {
		return err
	}
	if old != nil {
		c.ids.remove(key)
		c.sensors.Add(-1)
		c.samples.Add(-samplesOf(old))
	}
	return nil
}
