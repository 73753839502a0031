package processor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// MaxDeadLetterValue is the most of a rejected value a dead letter keeps.
const MaxDeadLetterValue = kafkaconf.MaxMessageBytes - recordOverhead

// maxHeader bounds the text headers of a dead letter (the details of a
// micro-batch with thousands of bad samples would not fit).
const maxHeader = 4 << 10

// clip cuts s to maxHeader bytes at a rune boundary, marking the cut.
func clip(s string) string {
	if len(s) <= maxHeader {
		return s
	}
	const more = " …(cut)"
	cut := maxHeader - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// DefaultMaxDim is the largest --max-dim: the decoder refuses larger
// samples before it allocates for them.
const DefaultMaxDim = codec.DefaultMaxDim

// MaxStateBytes is the largest state the table holds: one record under
// the producer's message limit (kafkaconf.MaxMessageBytes), less what the
// record needs besides its value.
const MaxStateBytes = kafkaconf.MaxMessageBytes - recordOverhead - codec.EnvelopeHeaderLen

// recordOverhead is what a table or dead-letter record needs besides its
// value: record batch and record headers, the key (at most MaxKeyBytes)
// and streamrls's headers (bounded, see deadLetter).
const recordOverhead = 16 << 10

// MaxDimFor is the default --max-dim of a model: the largest dimension
// whose state fits in one table record (MaxStateBytes), at most
// DefaultMaxDim. For the default bank (two models) it is 357.
func MaxDimFor(m Learner) int {
	lo, hi := 0, DefaultMaxDim // the largest fitting dimension is in [lo, hi]
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if m.StateSize(mid) <= MaxStateBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Handler is the goka callback of the processor group.
type Handler struct {
	Names   topology.Names
	Learner Learner
	MaxDim  int              // 0: DefaultMaxDim
	Metrics *Metrics         // nil: counted in Counts only
	Log     *slog.Logger     // nil: slog.Default()
	Now     func() time.Time // nil: time.Now
	// Snapshots says when to publish a sensor's snapshot to Names.Snapshots.
	Snapshots Snapshots
	// CacheSize bounds the decoded sensor states kept between messages
	// (see recordCache). 0: DefaultCacheSize; negative: none.
	CacheSize int
	// Tombstones says what a null value does (default: dead-lettered).
	Tombstones Tombstones
	// Scoring says what is published of the samples' scores (a State that
	// is a Scorer): events always, score records with Scoring.Publish.
	Scoring Scoring

	own        Counts // without Metrics
	decoders   sync.Pool
	rejectLog  sampledLog
	infoLog    sampledLog
	derivedDim sync.Once
	derived    int // MaxDimFor(Learner)
	snapshots  snapshotClock
	cache      recordCache
	// batches, when set, collects the partitions' outputs into batches;
	// nil writes every message's state at once.
	batches *batchWriter
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
	if h.Metrics != nil {
		start := time.Now()
		defer func() { h.Metrics.observe(start, ctx.Timestamp(), applied) }()
	}
	pc := h.cache.part(ctx.Partition(), ctx.Context())
	out := h.output(ctx, pc)
	if out.batch != nil {
		out.batch.mu.Lock()
	}
	applied = h.process(ctx, pc, out, msg)
	if pb := out.batch; pb != nil {
		full := pb.done(ctx, applied)
		pb.mu.Unlock()
		if full {
			pb.flush(false)
		}
	}
}

// process handles one message and returns the samples it applied. Its
// state write and emits go to out.
func (h *Handler) process(ctx goka.Context, pc *partCache, out output, msg any) (applied int) {
	key, partition, offset := ctx.Key(), ctx.Partition(), ctx.Offset()
	value := msgBytes(msg)
	// A message that names no valid sensor writes no state: the key must
	// never reach the table (goka's reserved key would corrupt it).
	reason, detail := checkKey(key)
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
	if rec.State == nil && out.batch != nil {
		// Nothing valid for a sensor that has no state: no table entry, so
		// junk keys do not grow the table. Only with batches: without them
		// every message must write a state to keep its partition's
		// acknowledgements in order (docs/design.md).
		h.count(0, rejects)
		h.deadLetter(ctx, out, value, rejects)
		return 0
	}

	now := h.now()
	rec.Partition, rec.Offset = partition, offset
	rec.Samples += uint64(applied)
	rec.Rejected += uint64(len(rejects))
	rec.Updated = now.UnixMilli()
	// Every message writes its sensor's state, rejected ones too: all of a
	// partition's acknowledgements then arrive in order on one changelog
	// partition, so goka never commits past a message whose state is
	// unwritten. (In a batch, the write is the sensor's one write at the
	// batch's end.)
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
	if out.batch != nil {
		rec, known, err := out.batch.lookup(key)
		if err != nil {
			ctx.Fail(fmt.Errorf("state of sensor %q being written: %w", key, err))
		}
		if known {
			return rec, was
		}
	}
	rec, _ := ctx.Value().(*Record)
	return rec, was
}

// reconcile brings a state read from the table to the learner's current
// configuration (see Reconciler).
func (h *Handler) reconcile(key string, rec *Record) error {
	if rec.current || rec.State == nil {
		return nil
	}
	r, ok := h.Learner.(Reconciler)
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

// output is where a message's state write and emits go: straight to goka
// (no batching), or into the partition's open batch.
type output struct {
	pin    []goka.ContextOption // pins a direct table write to the input partition
	batch  *partBatch
	counts *Counts
}

func (h *Handler) output(ctx goka.Context, pc *partCache) output {
	if h.batches == nil {
		return output{pin: pc.pin, counts: h.counts()}
	}
	if pc.batch == nil {
		pb, err := h.batches.newPartBatch(ctx.Context(), pc.p, pc.pinHeaders)
		if err != nil {
			ctx.Fail(err)
		}
		pc.batch = pb
	}
	return output{batch: pc.batch, counts: h.counts()}
}

// set writes rec as key's state.
func (o output) set(ctx goka.Context, key string, rec *Record) {
	if o.batch != nil {
		o.batch.set(key, rec)
		return
	}
	ctx.SetValue(rec, o.pin...)
	o.counts.StateWrites.Add(1)
	o.counts.StateBytes.Add(uint64(rec.size))
}

// del deletes key's state: a tombstone on the table.
func (o output) del(ctx goka.Context, key string) {
	if o.batch != nil {
		o.batch.del(key)
		return
	}
	ctx.Delete(o.pin...)
}

// emit sends value to topic under key.
func (o output) emit(ctx goka.Context, topic, key string, value []byte, headers goka.Headers) {
	if o.batch != nil {
		o.batch.emit(topic, key, value, headers)
		return
	}
	if headers == nil {
		ctx.Emit(goka.Stream(topic), key, value)
		return
	}
	ctx.Emit(goka.Stream(topic), key, value, goka.WithCtxEmitHeaders(headers))
}

func msgBytes(msg any) []byte { b, _ := msg.([]byte); return b }

func (h *Handler) count(applied int, rejects []rejection) {
	c := h.counts()
	c.Applied.Add(uint64(applied))
	if h.batches == nil {
		c.Written.Add(uint64(applied))
	}
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
	dec, _ := h.decoders.Get().(*codec.Decoder)
	if dec == nil {
		// The decoder refuses oversized dimensions before allocating for them.
		dec = &codec.Decoder{MaxDim: h.maxDim()}
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
	for i := range samples {
		s := &samples[i]
		if reason, detail := h.check(s, rec); reason != "" {
			rejects = append(rejects, rejection{index: i, reason: reason, detail: detail})
			continue
		}
		if rec.State == nil {
			size, limit := h.Learner.StateSize(len(s.X)), MaxStateBytes
			if size > limit {
				rejects = append(rejects, rejection{index: i, reason: ReasonStateTooLarge,
					detail: fmt.Sprintf("a state of dimension %d is %d bytes, one table record holds at most %d", len(s.X), size, limit)})
				continue
			}
			st, err := h.Learner.New(len(s.X))
			if err != nil {
				rejects = append(rejects, rejection{index: i, reason: ReasonNumeric, detail: err.Error()})
				continue
			}
			rec.State, rec.Dim, rec.current = st, int32(len(s.X)), true
			// Its first encoding then allocates the right size at once.
			rec.size = codec.EnvelopeHeaderLen + size
			h.counts().Sensors.Add(1)
		}
		if err := rec.State.Apply(s.X, s.Y); err != nil {
			rejects = append(rejects, rejection{index: i, reason: ReasonNumeric, detail: err.Error()})
			continue
		}
		if h.beginScores(ms, rec.State) {
			h.scoreSample(ms, s)
		}
		applied++
	}
	return rejects, applied
}

// check validates one sample against the sensor's state.
func (h *Handler) check(s *codec.Sample, rec *Record) (reason, detail string) {
	n := len(s.X)
	switch {
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

func (h *Handler) deadLetter(ctx goka.Context, out output, value []byte, rejects []rejection) {
	idx := make([]string, 0, len(rejects))
	details := make([]string, 0, len(rejects))
	for _, r := range rejects {
		if r.index >= 0 {
			idx = append(idx, strconv.Itoa(r.index))
			details = append(details, fmt.Sprintf("sample %d: %s: %s", r.index, r.reason, r.detail))
		} else {
			details = append(details, r.reason+": "+r.detail)
		}
	}
	hd := goka.Headers{
		schema.HeaderReason:          []byte(rejects[0].reason),
		schema.HeaderError:           []byte(clip(strings.Join(details, "; "))),
		schema.HeaderSourceTopic:     []byte(ctx.Topic()),
		schema.HeaderSourcePartition: []byte(strconv.Itoa(int(ctx.Partition()))),
		schema.HeaderSourceOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
	}
	if len(idx) > 0 {
		hd[schema.HeaderRejected] = []byte(clip(strings.Join(idx, ",")))
	}
	if len(value) > MaxDeadLetterValue {
		// The whole value would not fit in one record: keep its head and
		// say how to find and check the original on the input topic.
		sum := sha256.Sum256(value)
		hd[schema.HeaderOriginalSize] = []byte(strconv.Itoa(len(value)))
		hd[schema.HeaderOriginalSHA256] = []byte(hex.EncodeToString(sum[:]))
		value = value[:MaxDeadLetterValue]
	}
	h.rejectLog.log(h.log(), slog.LevelWarn, h.now(), "rejected input", rejects[0].reason, "topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(),
		"key", ctx.Key(), "reason", rejects[0].reason, "detail", string(hd[schema.HeaderError]))
	out.emit(ctx, h.Names.DeadLetter, ctx.Key(), value, hd)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
