package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

// Dead-letter headers. The value and key are the original message's.
const (
	HeaderReason          = "streamrls-reason"           // first rejection reason (see Reasons)
	HeaderError           = "streamrls-error"            // human-readable detail
	HeaderSourceTopic     = "streamrls-source-topic"     // input topic
	HeaderSourcePartition = "streamrls-source-partition" // input partition, decimal
	HeaderSourceOffset    = "streamrls-source-offset"    // input offset, decimal
	HeaderRejected        = "streamrls-rejected-samples" // indices of rejected samples in the message, comma-separated
)

// DefaultMaxDim bounds a sensor's dimension (--max-dim).
const DefaultMaxDim = 1024

// Handler is the goka callback of the processor group.
type Handler struct {
	Names   topology.Names
	Model   Model
	MaxDim  int              // 0: DefaultMaxDim
	Metrics *Metrics         // nil: not counted
	Log     *slog.Logger     // nil: slog.Default()
	Now     func() time.Time // nil: time.Now
	// Snapshots says when to publish a sensor's snapshot to Names.Snapshots.
	Snapshots Snapshots
	// CacheSize bounds the decoded sensor states kept between messages
	// (see recordCache). 0: DefaultCacheSize; negative: none.
	CacheSize int

	decoders  sync.Pool
	snapshots snapshotClock
	cache     recordCache
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
	if h.Metrics != nil {
		h.Metrics.Messages.Inc()
		start := time.Now()
		defer func() { h.Metrics.observe(start, ctx.Timestamp(), applied) }()
	}
	partition, offset := ctx.Partition(), ctx.Offset()
	pc := h.cache.part(partition, ctx.Context())
	pin := pc.pin

	if ctx.Key() == ReservedKey {
		// goka keeps its table offset under this key: a state written here
		// would corrupt the table, so this one message writes no state.
		rejects := []rejection{{index: -1, reason: ReasonBadKey, detail: fmt.Sprintf("key %q is reserved by goka's storage", ReservedKey)}}
		h.count(0, rejects)
		h.deadLetter(ctx, msgBytes(msg), rejects)
		return
	}
	rec := h.cache.get(pc, ctx.Key())
	if rec == nil {
		rec, _ = ctx.Value().(*Record)
	}
	if rec != nil && rec.Partition == partition && offset <= rec.Offset {
		// Already applied before a crash or rebalance. Write the unchanged
		// state again: the local table may be ahead of the changelog
		// (goka writes LevelDB before the changelog is acknowledged), and
		// this is what brings the changelog up to date.
		if h.Metrics != nil {
			h.Metrics.Duplicates.Inc()
		}
		ctx.SetValue(rec, pin...)
		h.cache.put(pc, ctx.Key(), rec, h.cacheLimit())
		return
	}
	if rec == nil {
		rec = &Record{Meta: codec.Meta{Offset: -1}}
	}

	value := msgBytes(msg)
	prev := rec.Samples
	rejects, applied := h.apply(ctx.Key(), value, rec)

	now := h.now()
	rec.Partition, rec.Offset = partition, offset
	rec.Samples += uint64(applied)
	rec.Rejected += uint64(len(rejects))
	rec.Updated = now.UnixMilli()
	// Every message writes its sensor's state, rejected ones too: all of a
	// partition's acknowledgements then arrive in order on one changelog
	// partition, so goka never commits past a message whose state is unwritten.
	ctx.SetValue(rec, pin...)
	h.cache.put(pc, ctx.Key(), rec, h.cacheLimit())
	if h.snapshotDue(ctx.Key(), prev, rec.Samples, now) {
		h.snapshot(ctx, rec)
	}

	h.count(applied, rejects)
	if h.Metrics != nil {
		h.Metrics.observeSensor(ctx.Key(), rec)
	}
	if len(rejects) > 0 {
		h.deadLetter(ctx, value, rejects)
	}
}

// ReservedKey is goka's own key in every local table.
const ReservedKey = tablestore.OffsetKey

func msgBytes(msg any) []byte { b, _ := msg.([]byte); return b }

func (h *Handler) count(applied int, rejects []rejection) {
	if h.Metrics == nil {
		return
	}
	if applied > 0 {
		h.Metrics.Applied.Add(float64(applied))
	}
	for _, r := range rejects {
		h.Metrics.Rejected.WithLabelValues(r.reason).Inc()
	}
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
	return DefaultMaxDim
}

// apply applies the message's samples in order to rec and returns the
// rejected ones and the number applied. A bad sample in a micro-batch rejects
// only itself: the good ones before and after it are applied.
func (h *Handler) apply(key string, value []byte, rec *Record) (rejects []rejection, applied int) {
	if key == "" {
		return []rejection{{index: -1, reason: ReasonEmptyKey, detail: "message has no key (sensor ID)"}}, 0
	}
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
	for i, s := range samples {
		if reason, detail := h.check(s, rec); reason != "" {
			rejects = append(rejects, rejection{index: i, reason: reason, detail: detail})
			continue
		}
		if rec.State == nil {
			st, err := h.Model.New(len(s.X))
			if err != nil {
				rejects = append(rejects, rejection{index: i, reason: ReasonNumeric, detail: err.Error()})
				continue
			}
			rec.State, rec.Dim = st, int32(len(s.X))
			if h.Metrics != nil {
				h.Metrics.Sensors.Inc()
			}
		}
		if err := rec.State.Apply(s.X, s.Y); err != nil {
			rejects = append(rejects, rejection{index: i, reason: ReasonNumeric, detail: err.Error()})
			continue
		}
		applied++
	}
	return rejects, applied
}

// check validates one sample against the sensor's state.
func (h *Handler) check(s codec.Sample, rec *Record) (reason, detail string) {
	n := len(s.X)
	switch {
	case n == 0:
		return ReasonDimension, "sample has no features"
	case n > h.maxDim():
		return ReasonMaxDim, fmt.Sprintf("dimension %d is above --max-dim %d", n, h.maxDim())
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

func (h *Handler) deadLetter(ctx goka.Context, value []byte, rejects []rejection) {
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
		HeaderReason:          []byte(rejects[0].reason),
		HeaderError:           []byte(strings.Join(details, "; ")),
		HeaderSourceTopic:     []byte(ctx.Topic()),
		HeaderSourcePartition: []byte(strconv.Itoa(int(ctx.Partition()))),
		HeaderSourceOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
	}
	if len(idx) > 0 {
		hd[HeaderRejected] = []byte(strings.Join(idx, ","))
	}
	h.log().Warn("rejected input", "topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(),
		"key", ctx.Key(), "reason", rejects[0].reason, "detail", string(hd[HeaderError]))
	ctx.Emit(goka.Stream(h.Names.DeadLetter), ctx.Key(), value, goka.WithCtxEmitHeaders(hd))
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// ErrStopped is returned by Run when its context ends.
var ErrStopped = errors.New("processor stopped")
