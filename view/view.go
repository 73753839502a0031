// Package view is the latest state of every sensor: a goka View over a
// group's table, with lookups of one sensor, ordered iteration over all of
// them, and the view's readiness.
package view

import (
	"context"
	"errors"
	"fmt"
	"iter"
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
	// Group whose table the view follows. Required.
	Group string
	// Kafka is the client configuration. Unset fields take their defaults
	// (kafkaconf.Kafka.WithDefaults).
	Kafka kafkaconf.Kafka
	// StateDir holds the view's local copy of the table. Required; one per
	// process, as LevelDB allows one writer.
	StateDir string
	// Log receives the view's logs. Default slog.Default().
	Log *slog.Logger
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
	// caughtUp is gv once it has recovered every partition. goka's
	// View.Recovered turns false again for a moment whenever a partition
	// (re)connects, as each does right after its recovery; a view that has
	// caught up keeps serving through that.
	caughtUp atomic.Pointer[goka.View]
	log      *slog.Logger

	brokers []string
	opts    []goka.ViewOption
	kafka   kafkaconf.Kafka
	origin  atomic.Pointer[tablestore.OriginFunc] // nil while Run has no client

	mu     sync.RWMutex
	stores map[int32]*counted
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
		return nil, errors.New("view: no group (Config.Group)")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("view: no state dir (Config.StateDir)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	v := &View{
		group:  cfg.Group,
		table:  topology.Names{Group: cfg.Group}.Table(),
		log:    cfg.Log.With("group", cfg.Group),
		stores: map[int32]*counted{},
	}
	opts, err := cfg.Kafka.ViewOptions()
	if err != nil {
		return nil, err
	}
	base := tablestore.StorageBuilderWith(cfg.StateDir, tablestore.StorageOptions{Log: v.log, Origin: v.originOf})
	opts = append(opts,
		goka.WithViewAutoReconnect(),
		goka.WithViewLogger(kafkaconf.GokaLogger(cfg.Log)),
		goka.WithViewStorageBuilder(func(topic string, partition int32) (storage.Storage, error) {
			st, err := base(topic, partition)
			if err != nil {
				return nil, fmt.Errorf("%w (is another process using the state dir %s?)", err, cfg.StateDir)
			}
			c := &counted{Storage: st, ids: newIDSet()}
			v.mu.Lock()
			v.stores[partition] = c
			v.mu.Unlock()
			return c, nil
		}),
	)
	v.brokers, v.opts, v.kafka = cfg.Kafka.WithDefaults().Brokers, opts, cfg.Kafka
	return v, nil
}

// originOf asks the brokers Run is connected to about a partition of the
// table, so that a local copy of another cluster or topic is not served.
func (v *View) originOf(topic string, partition int32) (tablestore.Origin, error) {
	fn := v.origin.Load()
	if fn == nil {
		return tablestore.Origin{}, errors.New("view: not connected to the brokers")
	}
	return (*fn)(topic, partition)
}

// Group is the group whose table this view serves.
func (v *View) Group() string { return v.group }

// Table is the name of the group's table topic.
func (v *View) Table() string { return v.table }

// Run runs the view until ctx ends. It waits, with backoff, for the brokers
// and the table to exist (a processor creates the table when it first
// starts) and reconnects after Kafka errors. Meanwhile its local copy can
// be read but may be behind the table: Waiting says what it waits for.
func (v *View) Run(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for {
		gv, release, err := v.build()
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
			release()
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

// build makes a goka view and the client its local copies are checked
// with; release closes the client once the goka view has run.
func (v *View) build() (gv *goka.View, release func(), err error) {
	client, admin, err := v.kafka.Admin("streamrls-origin-" + v.group)
	if err != nil {
		return nil, nil, err
	}
	originOf := tablestore.KafkaOrigin(client)
	v.origin.Store(&originOf)
	release = func() {
		v.origin.Store(nil)
		admin.Close()
	}
	gv, err = goka.NewView(v.brokers, goka.Table(v.table), new(codec.Bytes), v.opts...)
	if err != nil {
		release()
		return nil, nil, err
	}
	return gv, release, nil
}

// Recovered says whether the view has caught up with the table.
func (v *View) Recovered() bool {
	gv := v.gv.Load()
	if gv == nil {
		return false
	}
	if v.caughtUp.Load() == gv {
		return true
	}
	if !gv.Recovered() {
		return false
	}
	v.caughtUp.Store(gv)
	return true
}

// GokaState is the goka view's state, goka.ViewStateConnecting while the
// brokers or the table cannot be reached.
func (v *View) GokaState() goka.ViewState {
	gv := v.gv.Load()
	if gv == nil {
		return goka.ViewStateConnecting
	}
	return gv.CurrentState()
}

// State names GokaState (e.g. "running", "catching-up") for /readyz.
func (v *View) State() string {
	switch st := v.GokaState(); st {
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
	default:
		return fmt.Sprint(st)
	}
}

// Waiting says what the view waits for before it has caught up with the
// table, naming the first partition not yet caught up and how far it is;
// "" once it has.
func (v *View) Waiting() string {
	gv := v.gv.Load()
	if gv == nil {
		return fmt.Sprintf("view of group %s is connecting to the brokers and the table %s", v.group, v.table)
	}
	if v.Recovered() {
		return ""
	}
	stats := gv.Stats(context.Background())
	ps := make([]int32, 0, len(stats.Partitions))
	for p := range stats.Partitions {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		st := stats.Partitions[p]
		if st.Status >= goka.PartitionRunning {
			continue
		}
		if r := st.Recovery; r != nil && r.Hwm > 0 && st.Status == goka.PartitionRecovering {
			return fmt.Sprintf("view of group %s is recovering: partition %d at offset %d of %d", v.group, p, max(r.Offset, 0), r.Hwm)
		}
		return fmt.Sprintf("view of group %s is %s: partition %d is %s", v.group, v.State(), p, partitionState(st.Status))
	}
	return fmt.Sprintf("view of group %s is %s", v.group, v.State())
}

// partitionState names a goka partition status for Waiting.
func partitionState(s goka.PartitionStatus) string {
	switch s {
	case goka.PartitionStopped:
		return "stopped"
	case goka.PartitionInitializing:
		return "opening its local copy"
	case goka.PartitionConnecting:
		return "connecting"
	case goka.PartitionRecovering:
		return "recovering"
	case goka.PartitionPreparing:
		return "preparing"
	default:
		return fmt.Sprint(int(s))
	}
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

// idSets returns every partition's ID set, or nil while one is not
// recovered yet.
func (v *View) idSets() []*idSet {
	stores := v.snapshot()
	sets := make([]*idSet, 0, len(stores))
	for _, c := range stores {
		if !c.live.Load() {
			return nil
		}
		sets = append(sets, c.ids)
	}
	if len(sets) == 0 {
		return nil
	}
	return sets
}

func (v *View) snapshot() []*counted {
	v.mu.RLock()
	defer v.mu.RUnlock()
	ps := make([]int32, 0, len(v.stores))
	for p := range v.stores {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := make([]*counted, len(ps))
	for i, p := range ps {
		out[i] = v.stores[p]
	}
	return out
}

// isSensor: goka keeps a partition's table offset in its local storage
// under tablestore.OffsetKey; it is no sensor.
func isSensor(key []byte) bool { return len(key) > 0 && string(key) != tablestore.OffsetKey }

// newest keeps the most recently updated of a sensor's table values: a
// sensor whose input moved partition (the input topic was repartitioned)
// has a state in each, and the newest is its state. Of equally new ones the
// first offered (the lowest partition) stays.
type newest struct {
	b       []byte
	updated int64
}

func (n *newest) offer(b []byte) error {
	m, _, err := codec.SplitEnvelope(b)
	if err != nil {
		return err
	}
	if n.b == nil || m.Updated > n.updated {
		n.b, n.updated = b, m.Updated
	}
	return nil
}

// raw returns the stored table value of a sensor, or nil.
func (v *View) raw(sensor string) ([]byte, error) {
	if !isSensor([]byte(sensor)) {
		return nil, nil
	}
	var best newest
	for _, st := range v.snapshot() {
		if st.live.Load() && !st.ids.has(sensor) {
			continue // a LevelDB read saved: most sensors are in one partition
		}
		b, err := st.Get(sensor)
		if err != nil {
			return nil, fmt.Errorf("view of %s: get %q: %w", v.table, sensor, err)
		}
		if b == nil {
			continue
		}
		if err := best.offer(b); err != nil {
			return nil, fmt.Errorf("view of %s: sensor %q: %w", v.table, sensor, err)
		}
	}
	return best.b, nil
}

// Sensor is a sensor's decoded state.
type Sensor struct {
	ID   string
	Meta codec.Meta
	Lags codec.Lags // of an autoregressive sensor
	Bank *rls.Bank  // nil before its first valid sample
}

// Get returns a sensor's state; ok is false for an unknown sensor.
func (v *View) Get(sensor string) (s *Sensor, ok bool, err error) {
	b, err := v.raw(sensor)
	if err != nil || b == nil {
		return nil, false, err
	}
	return decode(sensor, b)
}

// decode decodes a table value; it keeps nothing of b.
func decode(sensor string, b []byte) (*Sensor, bool, error) {
	m, lags, payload, err := codec.SplitEnvelopeLags(b)
	if err != nil {
		return nil, false, fmt.Errorf("sensor %q: %w", sensor, err)
	}
	s := &Sensor{ID: sensor, Meta: m, Lags: lags}
	if len(payload) > 0 {
		if s.Bank, err = codec.DecodeBank(payload); err != nil {
			return nil, false, fmt.Errorf("sensor %q: %w", sensor, err)
		}
	}
	return s, true, nil
}

// scan is one ordered pass over the sensors whose IDs sort after after:
// each partition's local copy is a LevelDB sorted by key, and scan merges
// their iterators, calling fn once per sensor, in byte order of IDs, with
// the iterators (in partition order) that stand on it. fn must not keep key
// or the iterators' values; scan stops when fn returns false.
func (v *View) scan(after string, fn func(key []byte, at []storage.Iterator) bool) error {
	stores := v.snapshot()
	its := make([]storage.Iterator, 0, len(stores))
	defer func() {
		for _, it := range its {
			it.Release()
		}
	}()
	// on[i] says whether its[i] stands on a sensor.
	on := make([]bool, 0, len(stores))
	for _, st := range stores {
		it, err := st.Iterator()
		if err != nil {
			return fmt.Errorf("view of %s: iterate: %w", v.table, err)
		}
		its = append(its, it)
		// The first key above after is after+"\x00"; seeking there also
		// skips the empty key.
		ok := it.Seek([]byte(after + "\x00"))
		for ok && !isSensor(it.Key()) {
			ok = it.Next()
		}
		on = append(on, ok)
	}
	// A linear pass for the smallest key: a table has tens of partitions,
	// not thousands.
	at := make([]storage.Iterator, 0, len(its))
	idx := make([]int, 0, len(its))
	for {
		var lo []byte
		at, idx = at[:0], idx[:0]
		for i, it := range its {
			if !on[i] {
				continue
			}
			switch k := it.Key(); {
			case lo == nil || string(k) < string(lo):
				lo, at, idx = k, append(at[:0], it), append(idx[:0], i)
			case string(k) == string(lo):
				at, idx = append(at, it), append(idx, i)
			}
		}
		if lo == nil {
			break
		}
		if !fn(lo, at) {
			return nil
		}
		for _, i := range idx {
			ok := its[i].Next()
			for ok && !isSensor(its[i].Key()) {
				ok = its[i].Next()
			}
			on[i] = ok
		}
	}
	for _, it := range its {
		if err := it.Err(); err != nil {
			return fmt.Errorf("view of %s: iterate: %w", v.table, err)
		}
	}
	return nil
}

// IDs yields the IDs of the sensors that sort after after ("": all), each
// once and in byte order: from the partitions' ID sets once every partition
// is recovered, else in one pass over the local table. An error ends the
// sequence as ("", err).
func (v *View) IDs(after string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if sets := v.idSets(); sets != nil {
			mergeIDs(sets, after, func(id string) bool { return yield(id, nil) })
			return
		}
		stopped := false
		err := v.scan(after, func(key []byte, _ []storage.Iterator) bool {
			stopped = !yield(string(key), nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield("", err)
		}
	}
}

// All yields the state of every sensor whose ID sorts after after ("":
// all), each once and in byte order of IDs, in one pass over the local
// table; a sensor with a state in several partitions is its newest one, as
// for Get. An error ends the sequence as (nil, err).
func (v *View) All(after string) iter.Seq2[*Sensor, error] { return v.AllExcept(after, nil) }

// AllExcept is All without the sensors for which skip (nil: none) is true;
// their states are neither read nor decoded.
func (v *View) AllExcept(after string, skip func(id string) bool) iter.Seq2[*Sensor, error] {
	return func(yield func(*Sensor, error) bool) {
		stopped := false
		var failed error
		err := v.scan(after, func(key []byte, at []storage.Iterator) bool {
			id := string(key)
			if skip != nil && skip(id) {
				return true
			}
			var best newest
			for _, it := range at {
				b, err := it.Value()
				if err == nil && len(at) > 1 {
					err = best.offer(b)
				} else if err == nil {
					best.b = b
				}
				if err != nil {
					failed = fmt.Errorf("view of %s: sensor %q: %w", v.table, id, err)
					return false
				}
			}
			s, _, err := decode(id, best.b)
			if err != nil {
				failed = fmt.Errorf("view of %s: %w", v.table, err)
				return false
			}
			stopped = !yield(s, nil)
			return !stopped
		})
		if err == nil {
			err = failed
		}
		if err != nil && !stopped {
			yield(nil, err)
		}
	}
}

// Sensors lists sensor IDs in byte order after after, at most limit of them
// (limit ≤ 0: all); more says whether there are further ones.
func (v *View) Sensors(after string, limit int) (ids []string, more bool, err error) {
	for id, err := range v.IDs(after) {
		if err != nil {
			return nil, false, err
		}
		if limit > 0 && len(ids) == limit {
			return ids, true, nil
		}
		ids = append(ids, id)
	}
	return ids, false, nil
}

// Each calls fn for every sensor, in byte order of IDs (All without the
// range loop).
func (v *View) Each(fn func(*Sensor) error) error {
	for s, err := range v.All("") {
		if err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// Count returns the number of sensors in the view's local table: the keys
// of every partition, counted without merging them (a sensor with a state
// in several partitions, see Get, is counted once per partition). It reads
// the running counts, no scan; a partition still recovering counts 0.
func (v *View) Count() (int, error) { return v.Totals().Sensors, nil }

// Totals are running sums over the view's local table, summed over
// partitions like Count; a partition still recovering counts 0.
type Totals struct {
	Sensors   int    // keys
	Samples   uint64 // Meta.Samples summed over the keys' states
	At        time.Time
	Recovered bool // the view had caught up: every partition is counted
}

// Totals reads the running sums; At is when they were read.
func (v *View) Totals() Totals {
	t := Totals{Recovered: v.Recovered()}
	var samples int64
	for _, c := range v.snapshot() {
		t.Sensors += int(c.sensors.Load())
		samples += c.samples.Load()
	}
	t.Samples, t.At = uint64(max(samples, 0)), time.Now()
	return t
}
