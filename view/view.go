// Package view serves the latest state of every sensor: a goka View over a
// group's table, the HTTP JSON API of DESIGN.md and a Go client for it.
package view

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

// Config describes one view over one group's table.
type Config struct {
	Group    string
	Kafka    kafkaconf.Kafka
	StateDir string // local copy of the table; one per process
	Log      *slog.Logger
}

// View is a goka View over a group table that finds a sensor in whichever
// partition its samples arrived on. goka's View.Get hashes the key with FNV
// to pick one partition, but the processor keeps each sensor's state in the
// partition of its input (kafka-python, kcat and goka hash keys differently),
// so View looks a key up in every partition's local store.
type View struct {
	group string
	table string
	gv    atomic.Pointer[goka.View] // nil until the table was found
	log   *slog.Logger

	brokers []string
	opts    []goka.ViewOption

	mu     sync.RWMutex
	stores map[int32]storage.Storage
	hooks  []func(*goka.View)
}

// OnGokaView calls fn with the goka view now, if there is one, and with
// every goka view Run builds later (a new one after each failure).
func (v *View) OnGokaView(fn func(*goka.View)) {
	v.mu.Lock()
	v.hooks = append(v.hooks, fn)
	gv := v.gv.Load()
	v.mu.Unlock()
	if gv != nil {
		fn(gv)
	}
}

// New builds a view; Run starts it.
func New(cfg Config) (*View, error) {
	if cfg.Group == "" {
		return nil, errors.New("view: empty group (--group)")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("view: no state dir (--state-dir)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	v := &View{
		group:  cfg.Group,
		table:  topology.Names{Group: cfg.Group}.Table(),
		log:    cfg.Log.With("group", cfg.Group),
		stores: map[int32]storage.Storage{},
	}
	opts, err := cfg.Kafka.ViewOptions()
	if err != nil {
		return nil, err
	}
	base := tablestore.StorageBuilder(cfg.StateDir)
	opts = append(opts,
		goka.WithViewAutoReconnect(),
		goka.WithViewLogger(kafkaconf.GokaLogger(cfg.Log)),
		goka.WithViewStorageBuilder(func(topic string, partition int32) (storage.Storage, error) {
			st, err := base(topic, partition)
			if err != nil {
				return nil, fmt.Errorf("%w (is another process using --state-dir %s?)", err, cfg.StateDir)
			}
			v.mu.Lock()
			v.stores[partition] = st
			v.mu.Unlock()
			return st, nil
		}),
	)
	v.brokers, v.opts = cfg.Kafka.WithDefaults().Brokers, opts
	return v, nil
}

// Group is the group whose table this view serves.
func (v *View) Group() string { return v.group }

// Run runs the view until ctx ends. It waits, with backoff, for the brokers
// and the table to exist (a processor creates the table when it first
// starts), reconnects after Kafka errors, and meanwhile serves whatever its
// local copy holds.
func (v *View) Run(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for {
		gv, err := goka.NewView(v.brokers, goka.Table(v.table), new(codec.Bytes), v.opts...)
		if err == nil {
			v.mu.Lock()
			v.gv.Store(gv)
			hooks := slices.Clone(v.hooks)
			v.mu.Unlock()
			for _, fn := range hooks {
				fn(gv)
			}
			v.log.Info("view running", "table", v.table)
			err = gv.Run(ctx)
			if ctx.Err() != nil {
				return nil
			}
			v.gv.Store(nil)
			backoff = 200 * time.Millisecond
		}
		v.log.Warn("view not running; retrying", "table", v.table, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Recovered says whether the view has caught up with the table.
func (v *View) Recovered() bool {
	gv := v.gv.Load()
	return gv != nil && gv.Recovered()
}

// State is goka's view state (e.g. "running", "recovering"), or
// "connecting" while the brokers or the table cannot be reached.
func (v *View) State() string {
	gv := v.gv.Load()
	if gv == nil {
		return "connecting"
	}
	switch gv.CurrentState() {
	case goka.ViewStateIdle:
		return "idle"
	case goka.ViewStateInitializing:
		return "initializing"
	case goka.ViewStateConnecting:
		return "connecting"
	case goka.ViewStateCatchUp:
		return "catching-up"
	case goka.ViewStateRunning:
		return "running"
	}
	return fmt.Sprint(gv.CurrentState())
}

// WaitRecovered blocks until the view has caught up or ctx ends.
func (v *View) WaitRecovered(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !v.Recovered() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (v *View) snapshot() []storage.Storage {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ps := make([]int32, 0, len(v.stores))
	for p := range v.stores {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := make([]storage.Storage, len(ps))
	for i, p := range ps {
		out[i] = v.stores[p]
	}
	return out
}

// Raw returns the stored table value of a sensor, or nil. Should a sensor's
// input have moved partition (the input topic was repartitioned), the most
// recently updated copy wins.
func (v *View) Raw(sensor string) ([]byte, error) {
	if sensor == "" || sensor == tablestore.OffsetKey {
		return nil, nil
	}
	var best []byte
	var bestUpdated int64
	for _, st := range v.snapshot() {
		b, err := st.Get(sensor)
		if err != nil {
			return nil, fmt.Errorf("view of %s: get %q: %w", v.table, sensor, err)
		}
		if b == nil {
			continue
		}
		m, _, err := codec.SplitEnvelope(b)
		if err != nil {
			return nil, fmt.Errorf("view of %s: sensor %q: %w", v.table, sensor, err)
		}
		if best == nil || m.Updated > bestUpdated {
			best, bestUpdated = b, m.Updated
		}
	}
	return best, nil
}

// Sensor is a sensor's decoded state.
type Sensor struct {
	ID   string
	Meta codec.Meta
	Bank *rls.Bank // nil before its first valid sample
}

// Get returns a sensor's state; ok is false for an unknown sensor.
func (v *View) Get(sensor string) (s *Sensor, ok bool, err error) {
	b, err := v.Raw(sensor)
	if err != nil || b == nil {
		return nil, false, err
	}
	return Decode(sensor, b)
}

// Decode decodes a table value.
func Decode(sensor string, b []byte) (*Sensor, bool, error) {
	m, payload, err := codec.SplitEnvelope(b)
	if err != nil {
		return nil, false, fmt.Errorf("sensor %q: %w", sensor, err)
	}
	s := &Sensor{ID: sensor, Meta: m}
	if len(payload) > 0 {
		if s.Bank, err = codec.DecodeBank(payload); err != nil {
			return nil, false, fmt.Errorf("sensor %q: %w", sensor, err)
		}
	}
	return s, true, nil
}

// Sensors lists sensor IDs in byte order after after, at most limit of them;
// more says whether there are further ones.
func (v *View) Sensors(after string, limit int) (ids []string, more bool, err error) {
	seen := map[string]struct{}{}
	var all []string
	for _, st := range v.snapshot() {
		it, err := st.Iterator()
		if err != nil {
			return nil, false, fmt.Errorf("view of %s: iterate: %w", v.table, err)
		}
		for it.Next() {
			k := string(it.Key())
			if k == "" || k == tablestore.OffsetKey || k <= after {
				continue
			}
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				all = append(all, k)
			}
		}
		it.Release()
		if err := it.Err(); err != nil {
			return nil, false, fmt.Errorf("view of %s: iterate: %w", v.table, err)
		}
	}
	sort.Strings(all)
	if limit > 0 && len(all) > limit {
		return all[:limit], true, nil
	}
	return all, false, nil
}

// Each calls fn for every sensor, in byte order of IDs.
func (v *View) Each(fn func(*Sensor) error) error {
	after := ""
	for {
		ids, more, err := v.Sensors(after, 1000)
		if err != nil {
			return err
		}
		for _, id := range ids {
			s, ok, err := v.Get(id)
			if err != nil {
				return err
			}
			if ok {
				if err := fn(s); err != nil {
					return err
				}
			}
		}
		if !more {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// Count returns the number of sensors in the view's local table: the keys
// of every partition, counted without building a set (a sensor whose input
// moved partition, see Raw, is counted once per partition it has a state in).
func (v *View) Count() (int, error) {
	n := 0
	for _, st := range v.snapshot() {
		it, err := st.Iterator()
		if err != nil {
			return 0, fmt.Errorf("view of %s: iterate: %w", v.table, err)
		}
		for it.Next() {
			if k := it.Key(); len(k) > 0 && string(k) != tablestore.OffsetKey {
				n++
			}
		}
		it.Release()
		if err := it.Err(); err != nil {
			return 0, fmt.Errorf("view of %s: iterate: %w", v.table, err)
		}
	}
	return n, nil
}
