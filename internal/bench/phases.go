package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lovoo/goka"
	gokacodec "github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// childCPUTime is that of its waited-for child processes.
func childCPUTime() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stall is how long a phase may see no progress before it gives up.
const stall = 60 * time.Second

// prefill sends count samples, batch per message, to topic (created with
// cfg.Partitions) with the real emitter, and returns how long that took and
// the size of one message value.
func (r *runner) prefill(ctx context.Context, topic string, count int64, batch int) (time.Duration, int, error) {
	format := r.cfg.Format
	if batch > 1 {
		format = codec.FormatBinary
	}
	r.log.Info("pre-filling", "topic", topic, "samples", count, "batch", batch, "format", format)
	start := time.Now()
	n, err := emitter.Run(ctx, emitter.Config{
		Kafka: r.cfg.Kafka, Topic: topic, Partitions: r.cfg.Partitions, Sensors: r.cfg.Sensors, Dim: r.cfg.Dim,
		Count: count, Batch: batch, Format: format, Seed: r.cfg.Seed, Log: r.log, SensorMajor: r.sensorMajor,
	})
	took := time.Since(start)
	if err == nil && n != count {
		err = fmt.Errorf("pre-fill %s: sent %d of %d samples", topic, n, count)
	}
	if err != nil {
		return took, 0, err
	}
	r.log.Info("pre-filled", "topic", topic, "seconds", took.Seconds(), "samples_per_s", float64(count)/took.Seconds())
	return took, len(sampleMessage(format, r.cfg.Dim, batch)), nil
}

// sampleMessage is a message value as the emitter writes it (with seq).
func sampleMessage(f codec.Format, dim, batch int) []byte {
	g := emitter.NewGenerator(1, dim, emitter.DefaultTheta(dim), 0.1, 1)
	samples := make([]codec.Sample, batch)
	for i := range samples {
		samples[i] = g.Next(0, make([]float64, dim))
	}
	return codec.Encode(f, nil, samples)
}

// counter is phase (c): a goka processor whose callback counts messages
// per key in its group table, on the input of (a).
func (r *runner) counter(ctx context.Context, topic string, round int, kind string) (*Throughput, error) {
	names := r.names("counter-"+kind+strconv.Itoa(round), topic)
	var seen, writes, bytes atomic.Int64
	cb := func(ctx goka.Context, _ any) {
		n, _ := ctx.Value().(int64)
		ctx.SetValue(n + 1)
		seen.Add(1)
	}
	graph := goka.DefineGroup(goka.Group(names.Group),
		goka.Input(goka.Stream(topic), new(codec.Bytes), cb),
		goka.Persist(countingCodec{Codec: new(gokacodec.Int64), writes: &writes, bytes: &bytes}),
	)
	opts, err := exactlyonce.ProcessorOptions(r.cfg.Kafka)
	if err != nil {
		return nil, err
	}
	sb := storage.DefaultBuilder(r.dir(names.Group))
	what := "trivial goka counter, goka's LevelDB storage"
	if kind == "streamrls" {
		sb = tablestore.StorageBuilder(r.dir(names.Group))
		what = "trivial goka counter, streamrls's storage"
	}
	opts = append(opts,
		goka.WithStorageBuilder(sb),
		goka.WithLogger(kafkaconf.GokaLogger(r.log)),
	)
	p, err := goka.NewProcessor(r.cfg.Kafka.Brokers, graph, opts...)
	if err != nil {
		return nil, fmt.Errorf("goka counter processor: %w", err)
	}
	t := &Throughput{Phase: LabelCounter, What: what, MeasuredAt: "processor",
		Messages: r.cfg.Messages, Samples: r.cfg.Messages, MessageBytes: r.singleBytes, PrefillSeconds: r.singlePrefill.Seconds()}
	r.log.Info("phase c: goka counter", "messages", r.cfg.Messages)
	pctx, cancel := context.WithCancel(ctx)
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	start, cpu0 := time.Now(), cpuTime()
	go func() {
		defer wg.Done()
		if err := p.Run(pctx); err != nil && pctx.Err() == nil {
			failed <- err
		}
	}()
	first, last, err := poll(ctx, r.cfg.Messages, seen.Load, nil, failed, r.cfg.Timeout)
	cpu := cpuTime() - cpu0
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	t.finish(first.Sub(start), last.Sub(first), cpu)
	t.changelog(writes.Load(), bytes.Load())
	return t, nil
}

// countingCodec counts the values a goka processor writes to its table
// (local storage and changelog) and their bytes.
type countingCodec struct {
	goka.Codec
	writes, bytes *atomic.Int64
}

func (c countingCodec) Encode(v any) ([]byte, error) {
	b, err := c.Codec.Encode(v)
	c.writes.Add(1)
	c.bytes.Add(int64(len(b)))
	return b, err
}

// single is phase (a) (or (a0) when interval is NoBatches, (a-notx) when
// noTx): single-sample messages through the real processor, done when the
// state holding every sample is written (acknowledged, with batches), not
// when it is applied in memory.
func (r *runner) single(ctx context.Context, topic, id string, interval time.Duration, noTx bool) (*Throughput, error) {
	what, phase := "single", LabelSingle
	t := &Throughput{Phase: LabelSingle, What: "streamrls, 1 sample per message, batch interval " + IntervalName(interval), MeasuredAt: "processor",
		Messages: r.cfg.Messages, Samples: r.cfg.Messages, MessageBytes: r.singleBytes, PrefillSeconds: r.singlePrefill.Seconds(),
		BatchInterval: IntervalName(interval)}
	switch {
	case noTx:
		what, phase = "single-notx", LabelSingleNoTx
		t.What += ", no transactions"
	case interval != r.cfg.BatchInterval:
		what, phase = "single-nobatch", LabelSingleNoBatches
	}
	t.Phase = phase
	names := r.names(what+id, topic)
	r.log.Info("phase "+phase+": single-sample messages", "messages", r.cfg.Messages, "batch_interval", IntervalName(interval),
		"transactions", !noTx)
	if r.cfg.Processes > 0 {
		// Separate processes get a topic of their own, filled while they
		// are held (see throughViews).
		topic := r.name(what + "-processes" + id)
		t.MeasuredAt = "view"
		return t, r.throughViews(ctx, r.names(what+id, topic), interval, t, func() error {
			took, _, err := r.prefill(ctx, topic, r.cfg.Messages, 1)
			t.PrefillSeconds = took.Seconds()
			return err
		})
	}
	metrics := processor.NewMetrics(nil)
	start, cpu0 := time.Now(), cpuTime()
	stop, failed := r.runProcessorTx(ctx, names, r.dir(names.Group), interval, noTx, metrics, nil)
	// From the first sample applied, so that the first batch's work counts,
	// to the last one written.
	first, last, err := poll(ctx, r.cfg.Messages, func() int64 { return int64(metrics.Written.Load()) },
		func() int64 { return int64(metrics.Applied.Load()) }, failed, r.cfg.Timeout)
	cpu := cpuTime() - cpu0
	if r.afterSingle != nil && err == nil {
		r.afterSingle()
	}
	stop()
	if err != nil {
		return nil, err
	}
	t.finish(first.Sub(start), last.Sub(first), cpu)
	t.changelog(int64(metrics.StateWrites.Load()), int64(metrics.StateBytes.Load()))
	return t, nil
}

// batch is phase (b): binary micro-batches, topic to view.
func (r *runner) batch(ctx context.Context) (*Throughput, error) {
	topic := r.name("batch")
	msgs := (r.cfg.BatchSamples/int64(r.cfg.Sensors) + int64(r.cfg.Batch) - 1) / int64(r.cfg.Batch) * int64(r.cfg.Sensors)
	t := &Throughput{Phase: LabelBatch, What: fmt.Sprintf("streamrls, %d-sample binary micro-batches", r.cfg.Batch), MeasuredAt: "view",
		Messages: msgs, Samples: r.cfg.BatchSamples, BatchInterval: IntervalName(r.cfg.BatchInterval)}
	prefill := func() error {
		took, size, err := r.prefill(ctx, topic, r.cfg.BatchSamples, r.cfg.Batch)
		t.PrefillSeconds, t.MessageBytes = took.Seconds(), size
		return err
	}
	if r.cfg.Processes == 0 {
		if err := prefill(); err != nil {
			return nil, err
		}
		prefill = nil
	}
	r.log.Info("phase b: micro-batches", "samples", r.cfg.BatchSamples, "batch", r.cfg.Batch)
	return t, r.throughViews(ctx, r.names("batch", topic), r.cfg.BatchInterval, t, prefill)
}

// throughViews runs the processor(s) on names at the batch interval and
// measures at a view until it has seen t.Samples samples.
//
// With separate processes (cfg.Processes > 0), prefill fills the empty
// input topic: the processes are started first and stopped (SIGSTOP) once
// the group is stable with all of them, the input is filled, and they are
// continued (SIGCONT). Otherwise the first process to join would work alone
// on the filled input until the others join and a rebalance pauses it.
func (r *runner) throughViews(ctx context.Context, names topology.Names, interval time.Duration, t *Throughput, prefill func() error) error {
	if err := r.ensureTable(names); err != nil {
		return err
	}
	w := newTableWatch(t.Samples, nil)
	vstop, err := r.startView(ctx, names.Group, r.dir(names.Group+"-view"), w)
	if err != nil {
		return err
	}
	defer vstop()
	if r.cfg.Processes == 0 {
		start, cpu0 := time.Now(), cpuTime()
		metrics := processor.NewMetrics(nil)
		stop, failed := r.runProcessor(ctx, names, r.dir(names.Group), interval, metrics, nil)
		first, last, err := w.wait(ctx, failed, r.cfg.Timeout)
		cpu := cpuTime() - cpu0
		stop()
		if err != nil {
			return err
		}
		t.finish(first.Sub(start), last.Sub(first), cpu)
		t.changelog(int64(metrics.StateWrites.Load()), int64(metrics.StateBytes.Load()))
		return nil
	}
	child0 := childCPUTime()
	stop, failed, hold, err := r.spawn(ctx, names, r.cfg.Processes, interval)
	if err != nil {
		return err
	}
	defer stop()
	if err := r.waitGroupStable(ctx, names.Group, r.cfg.Processes); err != nil {
		return err
	}
	if err := hold(true); err != nil {
		return err
	}
	if err := prefill(); err != nil {
		return err
	}
	start, cpu0 := time.Now(), cpuTime()
	if err := hold(false); err != nil {
		return err
	}
	first, last, err := w.wait(ctx, failed, r.cfg.Timeout)
	cpu := cpuTime() - cpu0
	stop()
	if err != nil {
		return err
	}
	// The processes' whole lives: start, wait, work and shut-down.
	cpu += childCPUTime() - child0
	t.finish(first.Sub(start), last.Sub(first), cpu)
	return nil
}

// waitGroupStable waits until group is stable with members members.
func (r *runner) waitGroupStable(ctx context.Context, group string, members int) error {
	_, admin, err := r.cfg.Kafka.Admin("streamrls-bench")
	if err != nil {
		return err
	}
	defer admin.Close()
	deadline := time.Now().Add(r.cfg.Timeout)
	state := "unknown"
	for time.Now().Before(deadline) {
		gs, err := admin.DescribeConsumerGroups([]string{group})
		if err == nil && len(gs) == 1 {
			state = fmt.Sprintf("%s with %d members", gs[0].State, len(gs[0].Members))
			if gs[0].State == "Stable" && len(gs[0].Members) == members {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("group %s not stable with %d members after %v (%s)", group, members, r.cfg.Timeout, state)
}

// runProcessor runs processor.Run in this process, at the batch interval,
// until stop is called. onStart, if set, gets every goka processor built.
func (r *runner) runProcessor(ctx context.Context, names topology.Names, dir string, interval time.Duration, metrics *processor.Metrics, onStart func(*goka.Processor)) (stop func(), failed <-chan error) {
	return r.runProcessorTx(ctx, names, dir, interval, false, metrics, onStart)
}

// runProcessorTx is runProcessor, without Kafka transactions if noTx.
func (r *runner) runProcessorTx(ctx context.Context, names topology.Names, dir string, interval time.Duration, noTx bool, metrics *processor.Metrics, onStart func(*goka.Processor)) (stop func(), failed <-chan error) {
	pctx, cancel := context.WithCancel(ctx)
	fail := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The label marks the run's samples in --cpuprofile: every goroutine
		// the processor starts inherits it.
		pprof.Do(pctx, pprof.Labels("group", names.Group), func(pctx context.Context) {
			pc := r.cfg.processorBatches(interval)
			pc.Names, pc.Kafka, pc.Learner, pc.StateDir = names, r.cfg.Kafka, processor.RLS{Specs: r.cfg.Specs}, dir
			pc.Partitions, pc.Metrics, pc.Log, pc.OnStart = r.cfg.Partitions, metrics, r.log, onStart
			pc.NoTransactions = noTx
			err := processor.Run(pctx, pc)
			if err != nil {
				fail <- err
			}
		})
	}()
	return func() { cancel(); <-done }, fail
}

// ensureTable creates the input and dead-letter streams and the group table
// so that a view can start before the processor.
func (r *runner) ensureTable(names topology.Names) error {
	if err := processor.EnsureTopics(r.cfg.Kafka, names, r.cfg.Partitions); err != nil {
		return err
	}
	tm, err := r.cfg.Kafka.TopicManager()
	if err != nil {
		return err
	}
	defer tm.Close()
	ps, err := tm.Partitions(names.Input)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", names.Input, err)
	}
	if err := tm.EnsureTableExists(names.Table(), len(ps)); err != nil {
		return fmt.Errorf("create table %s: %w", names.Table(), err)
	}
	return nil
}

// startView runs a goka view over group's table, configured as view.New
// configures it, with w as its update callback, and returns once it has
// caught up.
func (r *runner) startView(ctx context.Context, group, dir string, w *tableWatch) (stop func(), err error) {
	opts, err := r.cfg.Kafka.ViewOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		goka.WithViewStorageBuilder(tablestore.StorageBuilder(dir)),
		goka.WithViewLogger(kafkaconf.GokaLogger(r.log)),
		goka.WithViewCallback(w.update),
	)
	table := topology.Names{Group: group}.Table()
	v, err := goka.NewView(r.cfg.Kafka.Brokers, goka.Table(table), new(codec.Bytes), opts...)
	if err != nil {
		return nil, fmt.Errorf("view of %s: %w", table, err)
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(vctx) }()
	stop = func() { cancel(); <-done }
	deadline := time.After(r.cfg.Timeout)
	for !v.Recovered() {
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("view of %s stopped: %v", table, err)
		case <-deadline:
			stop()
			return nil, fmt.Errorf("view of %s: not recovered after %v", table, r.cfg.Timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return stop, nil
}

// poll calls get every millisecond until it reaches target and returns when
// it first saw a non-zero value of started (nil: of get) and when it saw
// target.
func poll(ctx context.Context, target int64, get, started func() int64, failed <-chan error, timeout time.Duration) (first, last time.Time, err error) {
	if started == nil {
		started = get
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	prev, moved := int64(0), time.Now()
	before := time.Now() // the last poll that saw nothing
	for {
		select {
		case <-ctx.Done():
			return first, last, ctx.Err()
		case err := <-failed:
			return first, last, fmt.Errorf("processor stopped: %w", err)
		case <-t.C:
		}
		now := time.Now()
		v := get()
		if first.IsZero() && (v > 0 || started() > 0) {
			first = now
		}
		if v >= target {
			if first.Equal(now) {
				// All of it between two polls (a small run on a
				// loaded machine): it began after the poll before.
				first = before
			}
			return first, now, nil
		}
		if first.IsZero() {
			before = now
		}
		if v != prev {
			prev, moved = v, now
		}
		if now.Sub(moved) > stall || now.After(deadline) {
			return first, last, fmt.Errorf("stuck at %d of %d samples", v, target)
		}
	}
}

// tableWatch follows a group table in a view's update callback: the samples
// applied per sensor (from the state envelope) and their total.
type tableWatch struct {
	target int64
	base   time.Time
	// advance, if set, is called (under mu) when a sensor's sample count goes
	// from 'from' to 'to', at now since base.
	advance func(key string, from, to uint64, now time.Duration)

	mu      sync.Mutex
	samples map[string]uint64
	total   int64
	first   time.Time
	last    time.Time
	done    chan struct{}
	closed  bool
	bad     atomic.Pointer[error]
}

func newTableWatch(target int64, advance func(key string, from, to uint64, now time.Duration)) *tableWatch {
	return &tableWatch{target: target, base: time.Now(), advance: advance, samples: map[string]uint64{}, done: make(chan struct{})}
}

// update is the goka.UpdateCallback: store as goka does, then count.
func (w *tableWatch) update(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
		return err
	}
	if value == nil {
		return nil
	}
	now := time.Now()
	m, _, err := codec.SplitEnvelope(value)
	if err != nil {
		e := fmt.Errorf("table value of %q at partition %d offset %d: %w", key, ctx.Partition(), ctx.Offset(), err)
		w.bad.CompareAndSwap(nil, &e)
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.samples[key]
	if m.Samples <= prev {
		return nil
	}
	w.samples[key] = m.Samples
	if w.advance != nil {
		w.advance(key, prev, m.Samples, now.Sub(w.base))
	}
	if w.first.IsZero() {
		w.first = now
	}
	w.total += int64(m.Samples - prev)
	if w.total >= w.target && !w.closed {
		w.last, w.closed = now, true
		close(w.done)
	}
	return nil
}

// wait waits until the view has seen target samples.
func (w *tableWatch) wait(ctx context.Context, failed <-chan error, timeout time.Duration) (first, last time.Time, err error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	prev, moved := int64(-1), time.Now()
	for {
		select {
		case <-ctx.Done():
			return first, last, ctx.Err()
		case err := <-failed:
			return first, last, fmt.Errorf("processor stopped: %w", err)
		case <-w.done:
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.first, w.last, nil
		case now := <-t.C:
			if e := w.bad.Load(); e != nil {
				return first, last, *e
			}
			w.mu.Lock()
			v := w.total
			w.mu.Unlock()
			if v != prev {
				prev, moved = v, now
			}
			if now.Sub(moved) > stall || now.After(deadline) {
				return first, last, fmt.Errorf("view stuck at %d of %d samples", v, w.target)
			}
		}
	}
}

// sensorIndex is the emitter's sensor index of key ("1" → 0), or -1.
func sensorIndex(key string, sensors int) int {
	i, err := strconv.Atoi(key)
	if err != nil || i < 1 || i > sensors {
		return -1
	}
	return i - 1
}

// batchArgs are the batch flags of a spawned streamrls process.
func (r *runner) batchArgs(interval time.Duration) []string {
	args := []string{"--batch-interval", IntervalName(interval), "--batch-max-interval", max(r.cfg.BatchMaxInterval, 0).String(),
		"--batch-density", strconv.Itoa(r.cfg.BatchDensity), "--batch-max-bytes", strconv.Itoa(r.cfg.BatchMaxBytes)}
	if r.cfg.Dim > processor.DefaultFleetMaxDim {
		args = append(args, "--max-dim", strconv.Itoa(r.cfg.Dim))
	}
	return args
}
