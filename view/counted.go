package view

import (
	"fmt"
	"sync/atomic"

	"github.com/lovoo/goka/storage"

	"github.com/streamrls/streamrls/codec"
)

// counted is a partition's local table copy that keeps its number of
// sensors and their samples' sum as values are written, so that Count and
// Totals cost nothing per call. goka writes every table message, in
// recovery and while running, through Set or Delete (a tombstone); each
// reads the key's value first to tell a new sensor from an update.
type counted struct {
	storage.Storage
	sensors atomic.Int64
	samples atomic.Int64
}

// newCounted counts what st already holds (a local copy kept from an
// earlier run): one pass when the partition is opened.
func newCounted(st storage.Storage) (*counted, error) {
	c := &counted{Storage: st}
	it, err := st.Iterator()
	if err != nil {
		return nil, fmt.Errorf("count local table: %w", err)
	}
	defer it.Release()
	var n, s int64
	for it.Next() {
		if !isSensor(it.Key()) {
			continue
		}
		b, err := it.Value()
		if err != nil {
			return nil, fmt.Errorf("count local table: %w", err)
		}
		n++
		s += samplesOf(b)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("count local table: %w", err)
	}
	c.sensors.Store(n)
	c.samples.Store(s)
	return c, nil
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
	if !isSensor([]byte(key)) {
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
	}
	c.samples.Add(samplesOf(value) - was)
	return nil
}

func (c *counted) Delete(key string) error {
	if !isSensor([]byte(key)) {
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
		c.sensors.Add(-1)
		c.samples.Add(-samplesOf(old))
	}
	return nil
}
