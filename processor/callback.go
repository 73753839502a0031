package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/topology"
)

// Handler is the goka callback of the processor group.
type Handler struct {
	Names   topology.Names
	Learner Learner
	MaxDim  int // 0: DefaultMaxDim
	// MaxValueBytes bounds an input value; a larger one is dead-lettered
	// undecoded. 0: DefaultMaxValueBytes.
	MaxValueBytes int
	Metrics       *Metrics         // nil: counted in Counts only
	Log           *slog.Logger     // nil: slog.Default()
	Now           func() time.Time // nil: time.Now
	// Snapshots says when to publish a sensor's snapshot to Names.Snapshots.
	Snapshots Snapshots
	// CacheSize bounds the decoded sensor states kept between messages
	// (see recordCache). 0: DefaultCacheSize; negative: none.
	CacheSize int
	// Tombstones says what a null value does (default: dead-lettered).
	Tombstones Tombstones
	// Scoring says what is published of the samples' scores (of a
	// *BankState): events always, score records with Scoring.Publish.
	Scoring Scoring
	// Mapping, when set, decodes every value as a JSON record by its paths
	// instead of the sample formats.
	Mapping *codec.JSONMap
	// AR, when positive, is the lag order of every sensor: its features are
	// the sample's x (possibly none), then y[t-1], …, y[t-AR], then 1. The
	// lags are the last AR values of y received, kept in the Record; a
	// sensor's first AR samples only fill them (they update no model and
	// are not counted as samples).
	AR int

	own        Counts // without Metrics
	decoders   sync.Pool
	rejectLog  sampledLog
	infoLog    sampledLog
	derivedDim sync.Once
	derived    int // MaxDimFor(Learner)
	snapshots  snapshotClock
	cache      recordCache
	// batches writes the partitions' timed batches; nil makes every
	// message a batch of its own (see Handler.output).
	batches *batchWriter
	// health counts the messages read (nil: none); the batches count
	// them written.
	health *Health
}

// Rebalanced is the goka rebalance callback: it drops every cached state
// (goka has stopped every partition processor when it calls it).
func (h *Handler) Rebalanced(goka.Assignment) { h.cache.reset() }

func (h *Handler) cacheLimit() int {
	if h.CacheSize == 0 {
		return DefaultCacheSize
	}
	return h.CacheSize
}

// rejection is one rejected sample (index -1: the whole message).
type rejection struct {
	index  int
	reason string
	detail string
}

// Process is the goka.ProcessCallback.
func (h *Handler) Process(ctx goka.Context, msg any) {
	applied := 0
	h.counts().Messages.Add(1)
	h.health.reading()
	if h.Metrics != nil {
		start := time.Now()
		defer func() { h.Metrics.observe(start, ctx.Timestamp(), applied) }()
	}
	pc := h.cache.part(ctx.Partition(), ctx.Context())
	out := h.output(ctx, pc)
	out.begin()
	applied = h.process(ctx, pc, out, msg)
	out.end(ctx, applied)
}

// process handles one message and returns the samples it applied. Its
// state write and emits go to out.
func (h *Handler) process(ctx goka.Context, pc *partCache, out output, msg any) (applied int) {
	key, partition, offset := ctx.Key(), ctx.Partition(), ctx.Offset()
	value := msgBytes(msg)
	// A message that names no valid sensor writes no state: the key must
	// never reach the table (goka's reserved key would corrupt it).
	reason, detail := checkKey(key)
	if reason == "" && len(value) > h.maxValue() {
		reason, detail = ReasonTooLarge, fmt.Sprintf("the value is %d bytes, the limit %d", len(value), h.maxValue())
		memReleaser.schedule()
	}
	if reason == "" && msg == nil {
		if h.Tombstones == TombstonesDelete {
			out.del(ctx, key)
			h.cache.drop(pc, key)
			h.counts().Deleted.Add(1)
			h.infoLog.log(h.log(), slog.LevelInfo, h.now(), "sensor deleted", "tombstone", "sensor", key, "partition", partition, "offset", offset, "cause", "tombstone")
			return 0
		}
		reason, detail = ReasonTombstone, "null value (a tombstone): a sensor is deleted by one only when tombstones delete"
	}
	if reason != "" {
		rejects := []rejection{{index: -1, reason: reason, detail: detail}}
		h.count(0, rejects)
		h.deadLetter(ctx, out, value, rejects)
		return 0
	}
	rec, was := h.read(ctx, pc, out, key)
	if rec != nil && rec.Partition == partition && offset <= rec.Offset {
		// Already applied before a crash or rebalance. Write the unchanged
		// state again: the local table may be ahead of the changelog (the
		// local copy is written before the changelog acknowledges), and
		// this is what brings the changelog up to date.
		h.counts().Duplicates.Add(1)
		out.set(ctx, key, rec)
		h.cache.put(pc, key, rec, was, h.cacheLimit())
		return 0
	}
	if rec == nil {
		rec = &Record{Meta: codec.Meta{Offset: -1}}
	}

	prev := rec.Samples
	var rejects []rejection
	var ms msgScores
	if err := h.reconcile(key, rec); err != nil {
		rejects = []rejection{{index: -1, reason: ReasonModelChanged, detail: err.Error()}}
	} else {
		rejects, applied = h.apply(value, rec, &ms)
	}
	if rec.State == nil && !out.statePerMessage() {
		// Nothing valid for a sensor that has no state: no table entry, so
		// junk keys do not grow the table, unless every message must write
		// its state (see output.statePerMessage).
		h.count(0, rejects)
		h.deadLetter(ctx, out, value, rejects)
		return 0
	}

	now := h.now()
	rec.Partition, rec.Offset = partition, offset
	rec.Samples += uint64(applied)
	rec.Rejected += uint64(len(rejects))
	rec.Updated = now.UnixMilli()
	// Every message that reaches here writes its sensor's state, rejected
	// ones too; a timed batch writes it once, at the batch's end.
	out.set(ctx, key, rec)
	h.cache.put(pc, key, rec, was, h.cacheLimit())
	if h.snapshotDue(key, prev, rec.Samples, now) {
		h.snapshot(ctx, out, rec)
	}
	if ms.record != nil || len(ms.events) > 0 {
		h.publishScores(ctx, out, &ms, now)
	}

	h.count(applied, rejects)
	h.Metrics.observeSensor(key, rec)
	if len(rejects) > 0 {
		h.deadLetter(ctx, out, value, rejects)
	}
	return applied
}

// read returns key's state and what the cache held for it. The cache
// comes first: it holds the newest state of every sensor in it, a deleted
// sensor left it, and most messages find their sensor there. Then the
// batch (a state waiting in it or being written that left the cache, or a
// deletion), then the local table copy.
func (h *Handler) read(ctx goka.Context, pc *partCache, out output, key string) (*Record, cached) {
	was := h.cache.get(pc, key)
	if was.rec != nil {
		return was.rec, was
	}
	rec, known, err := out.lookup(key)
	if err != nil {
		ctx.Fail(fmt.Errorf("state of sensor %q being written: %w", key, err))
	}
	if known {
		return rec, was
	}
	rec, _ = ctx.Value().(*Record)
	return rec, was
}

// reconcile brings a state read from the table to the learner's current
// configuration (see RLS.Reconcile).
func (h *Handler) reconcile(key string, rec *Record) error {
	if rec.current || rec.State == nil {
		return nil
	}
	r, ok := h.Learner.(RLS)
	if !ok {
		rec.current = true
		return nil
	}
	st, change, err := r.Reconcile(rec.State)
	if err != nil {
		return err
	}
	if change != nil {
		h.infoLog.log(h.log(), slog.LevelInfo, h.now(), "model bank changed", "bank", "sensor", key, "change", change.String())
	}
	rec.State, rec.current = st, true
	return nil
}

// output is a partition's batch as the callback sees it: where each
// message's state write, deletion and emits go. It is made at the
// partition's first message and kept while its partition processor runs: a
// timed batch (partBatch) when the handler has a batch writer, else a batch
// of one message (msgBatch). The callback writes to either the same way.
type output interface {
	// begin and end bracket one message's callback; end is told the
	// samples it applied and writes the batch when it is due.
	begin()
	end(ctx goka.Context, applied int)
	// lookup returns key's state waiting in the batch or being written;
	// known says the batch knows the sensor (rec nil: deleted), so the
	// local table copy must not be asked.
	lookup(key string) (rec *Record, known bool, err error)
	// set writes rec as key's state; del deletes it (a tombstone on the
	// table); emit sends value to topic under key.
	set(ctx goka.Context, key string, rec *Record)
	del(ctx goka.Context, key string)
	emit(ctx goka.Context, topic, key string, value []byte, headers goka.Headers)
	// statePerMessage says whether every message with a sensor ID must
	// write its sensor's state, even one without a valid sample.
	statePerMessage() bool
}

// output returns the partition's batch, made at its first message.
func (h *Handler) output(ctx goka.Context, pc *partCache) output {
	if pc.batch != nil {
		return pc.batch
	}
	if h.batches == nil {
		pc.batch = &msgBatch{pin: pc.pin, counts: h.counts(), health: h.health}
		return pc.batch
	}
	pb, err := h.batches.newPartBatch(ctx.Context(), pc.p, pc.pinHeaders)
	if err != nil {
		ctx.Fail(err)
	}
	pc.batch = pb
	return pb
}

func msgBytes(msg any) []byte { b, _ := msg.([]byte); return b }

// count counts a message's applied samples and rejections; its batch
// counts the samples once their state is written.
func (h *Handler) count(applied int, rejects []rejection) {
	c := h.counts()
	c.Applied.Add(uint64(applied))
	for _, r := range rejects {
		c.reject(r.reason)
	}
}

// counts are the handler's running totals: its Metrics' when it has them.
func (h *Handler) counts() *Counts {
	if h.Metrics != nil {
		return &h.Metrics.Counts
	}
	return &h.own
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) maxValue() int {
	if h.MaxValueBytes > 0 {
		return h.MaxValueBytes
	}
	return DefaultMaxValueBytes
}

func (h *Handler) maxDim() int {
	if h.MaxDim > 0 {
		return h.MaxDim
	}
	h.derivedDim.Do(func() { h.derived = MaxDimFor(h.Learner) })
	return h.derived
}

// apply applies the message's samples in order to rec and returns the
// rejected ones and the number applied. A bad sample in a micro-batch rejects
// only itself: the good ones before and after it are applied. The applied
// samples' scores go to ms.
func (h *Handler) apply(value []byte, rec *Record, ms *msgScores) (rejects []rejection, applied int) {
	dec, _ := h.decoders.Get().(sampleDecoder)
	if dec == nil {
		dec = h.newDecoder()
	}
	defer h.decoders.Put(dec)
	samples, err := dec.Decode(value)
	if err != nil {
		reason := ReasonDecode
		var de *codec.DecodeError
		if errors.As(err, &de) && de.Reason == codec.ReasonTooLarge {
			reason = ReasonMaxDim
		}
		return []rejection{{index: -1, reason: reason, detail: err.Error()}}, 0
	}
	var feat []float64 // the features of an autoregressive sample
	for i := range samples {
		s := &samples[i]
		if reason, detail := h.check(s, rec); reason != "" {
			rejects = append(rejects, rejection{index: i, reason: reason, detail: detail})
			continue
		}
		dim := h.dim(s)
		if rec.State == nil {
			size, limit := h.Learner.StateSize(dim), MaxStateBytes
			if size > limit {
				rejects = append(rejects, rejection{index: i, reason: ReasonStateTooLarge,
					detail: fmt.Sprintf("a state of dimension %d is %d bytes, one table record holds at most %d", dim, size, limit)})
				continue
			}
			st, err := h.Learner.New(dim)
			if err != nil {
				rejects = append(rejects, rejection{index: i, reason: ReasonNumeric, detail: err.Error()})
				continue
			}
			rec.State, rec.Dim, rec.current = st, int32(dim), true
			// Its first encoding then allocates the right size at once.
			rec.size = codec.EnvelopeHeaderLen + size
			h.counts().Sensors.Add(1)
		}
		x := s.X
		if h.AR > 0 {
			if len(rec.Lags.Values) < h.AR {
				pushLag(&rec.Lags, h.AR, s.Y)
				continue
			}
			feat = arFeatures(feat[:0], s.X, rec.Lags.Values)
			x = feat
		}
		if err := rec.State.Apply(x, s.Y); err != nil {
			rejects = append(rejects, rejection{index: i, reason: ReasonNumeric, detail: err.Error()})
			continue
		}
		if h.AR > 0 {
			pushLag(&rec.Lags, h.AR, s.Y)
		}
		if h.beginScores(ms, rec.State) {
			h.scoreSample(ms, s)
		}
		applied++
	}
	return rejects, applied
}

// sampleDecoder is a *codec.Decoder, or a *codec.MappedDecoder of a mapping.
type sampleDecoder interface {
	Decode(value []byte) ([]codec.Sample, error)
}

// newDecoder is a decoder of the handler's input. It refuses oversized
// dimensions before allocating for them.
func (h *Handler) newDecoder() sampleDecoder {
	if h.Mapping != nil {
		return h.Mapping.NewDecoder(h.maxDim())
	}
	return &codec.Decoder{MaxDim: h.maxDim(), NoX: h.AR > 0}
}

// check validates one sample against the sensor's state.
func (h *Handler) check(s *codec.Sample, rec *Record) (reason, detail string) {
	n := h.dim(s)
	switch {
	case h.AR > 0 && rec.Lags.Order != 0 && rec.Lags.Order != h.AR:
		return ReasonDimension, fmt.Sprintf("the sensor has %d lags, the processor %d", rec.Lags.Order, h.AR)
	case n == 0:
		return ReasonDimension, "sample has no features"
	case n > h.maxDim():
		return ReasonMaxDim, fmt.Sprintf("dimension %d is above the max-dim %d", n, h.maxDim())
	case rec.Dim != 0 && n != int(rec.Dim):
		return ReasonDimension, fmt.Sprintf("dimension %d, sensor has %d", n, rec.Dim)
	}
	if math.IsNaN(s.Y) || math.IsInf(s.Y, 0) {
		return ReasonNonFinite, fmt.Sprintf("y is %v", s.Y)
	}
	for j, v := range s.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ReasonNonFinite, fmt.Sprintf("x[%d] is %v", j, v)
		}
	}
	return "", ""
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// dim is the dimension of the model of sample s: len(x), and the lags and
// the constant of an autoregressive sensor.
func (h *Handler) dim(s *codec.Sample) int {
	if h.AR > 0 {
		return len(s.X) + h.AR + 1
	}
	return len(s.X)
}

// arFeatures appends the features of an autoregressive sample to dst: x,
// the lags (newest first) and 1.
func arFeatures(dst, x, lags []float64) []float64 {
	dst = append(dst, x...)
	dst = append(dst, lags...)
	return append(dst, 1)
}

// pushLag makes y the newest of l's lags, of order p, dropping the oldest
// once p are held.
func pushLag(l *codec.Lags, p int, y float64) {
	l.Order = p
	if len(l.Values) < p {
		l.Values = append(l.Values, 0)
	}
	copy(l.Values[1:], l.Values)
	l.Values[0] = y
}
