package processor

import (
	"encoding/json"
	"math"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
)

// Scoring is what the processor publishes from the scores (see
// docs/operations.md, "Scores, anomalies and drift"). The tests themselves
// (threshold, detector, action) are the learner's (RLS.Scoring).
type Scoring struct {
	// Publish writes one schema.ScoreRecord per input message that
	// applied samples to Names.Scores. Default false: it costs a JSON
	// record per message.
	Publish bool
	// Model names the model whose anomalies are events. Default the first
	// model of the bank.
	Model string
	// IntervalLevel is the coverage of the intervals of the scores topic.
	// Default rls.DefaultIntervalLevel.
	IntervalLevel float64
}

// msgScores collects one message's scores and events while it is applied.
type msgScores struct {
	scorer *BankState
	model  int // index of the score model, -1 if the bank has none by that name
	q      float64
	record *schema.ScoreRecord // nil unless Publish
	events []schema.Event
}

// beginScores prepares the scoring of samples applied to st: false when
// st is no *BankState, whose models score every sample they apply (another
// learner's states have neither scores nor events).
func (h *Handler) beginScores(ms *msgScores, st State) bool {
	sc, ok := st.(*BankState)
	if !ok {
		ms.scorer = nil
		return false
	}
	if ms.scorer == sc {
		return true
	}
	ms.scorer, ms.model = sc, -1
	if h.Scoring.Model == "" {
		ms.model = 0
	} else {
		for i := range sc.Scores() {
			if name, _, _ := sc.Score(i); name == h.Scoring.Model {
				ms.model = i
				break
			}
		}
	}
	if h.Scoring.Publish && ms.q == 0 {
		level := h.Scoring.IntervalLevel
		if level == 0 {
			level = rls.DefaultIntervalLevel
		}
		ms.q = rls.IntervalQuantile(level)
	}
	return true
}

// scoreSample records the scores of sample s, just applied to ms.scorer. Only
// an event or the scores topic allocates.
func (h *Handler) scoreSample(ms *msgScores, s *codec.Sample) {
	sc := ms.scorer
	n := sc.Scores()
	for i := range n {
		name, samples, score := sc.Score(i)
		if i == ms.model && score.Opened {
			test, z, t := schema.TestError, score.AZ, score.Threshold
			if !score.ByError() {
				test, z, t = schema.TestSpread, score.SZ, score.SpreadThreshold
			}
			ms.events = append(ms.events, sampleEvent(s, schema.Event{Model: name, Kind: schema.EventAnomaly,
				Samples: samples, Test: test, Z: &z, Threshold: &t}))
		}
		if i == ms.model && score.Closed {
			peak := score.Peak
			ms.events = append(ms.events, sampleEvent(s, schema.Event{Model: name, Kind: schema.EventAnomalyEnd,
				Samples: samples, Count: score.Count, Peak: &peak}))
		}
		if score.Drift {
			st := score.Statistic
			ms.events = append(ms.events, sampleEvent(s, schema.Event{Model: name, Kind: schema.EventDrift,
				Samples: samples, Statistic: &st}))
		}
	}
	if !h.Scoring.Publish {
		return
	}
	if ms.record == nil {
		ms.record = &schema.ScoreRecord{}
	}
	ss := schema.ScoreSample{Y: s.Y, SampleTS: s.TS, Models: make([]schema.ModelScore, n)}
	if s.HasSeq {
		seq := s.Seq
		ss.Seq = &seq
	}
	if s.TS != 0 {
		ts := s.TS
		ss.TS = &ts
	}
	for i := range n {
		name, _, score := sc.Score(i)
		m := schema.ModelScore{Model: name, YHat: score.YHat, E: score.E, Threshold: score.Threshold}
		if !math.IsNaN(score.Z) && !math.IsInf(score.Z, 0) {
			z := score.Z
			lo, hi := score.Interval(ms.q)
			m.Z, m.Lo, m.Hi = &z, &lo, &hi
		}
		if !math.IsNaN(score.AZ) && !math.IsInf(score.AZ, 0) {
			az := score.AZ
			m.AZ = &az
		}
		ss.Models[i] = m
	}
	ms.record.Samples = append(ms.record.Samples, ss)
}

// sampleEvent returns ev with the sample's sequence number and own time
// (SampleTS stays 0 without a producer's ts: publishScores then sets the
// record's).
func sampleEvent(s *codec.Sample, ev schema.Event) schema.Event {
	if s.HasSeq {
		seq := s.Seq
		ev.Seq = &seq
	}
	ev.SampleTS = s.TS
	return ev
}

// publishScores emits the message's score record and events with its
// other outputs, and counts the events (an anomaly episode counts once,
// when it opens).
func (h *Handler) publishScores(ctx goka.Context, out output, ms *msgScores, now time.Time) {
	key, partition, offset := ctx.Key(), ctx.Partition(), ctx.Offset()
	t := now.UTC().Format(time.RFC3339Nano)
	recordTS := ctx.Timestamp().UnixMilli()
	sampleTime := func(ts *int64) string {
		if *ts == 0 {
			*ts = recordTS
		}
		return time.UnixMilli(*ts).UTC().Format(time.RFC3339Nano)
	}
	if r := ms.record; r != nil && len(r.Samples) > 0 {
		r.Sensor, r.Partition, r.Offset = key, partition, offset
		for i := range r.Samples {
			r.Samples[i].SampleTime = sampleTime(&r.Samples[i].SampleTS)
		}
		if b, err := json.Marshal(r); err == nil {
			out.emit(ctx, h.Names.Scores, key, b, nil)
		} else {
			h.log().Error("score record not encoded", "sensor", key, "err", err)
		}
	}
	if len(ms.events) == 0 {
		return
	}
	c := h.counts()
	for i := range ms.events {
		ev := &ms.events[i]
		ev.Sensor, ev.Partition, ev.Offset, ev.Time = key, partition, offset, t
		ev.SampleTime = sampleTime(&ev.SampleTS)
		switch ev.Kind {
		case schema.EventAnomaly:
			c.Anomalies.Add(1)
		case schema.EventDrift:
			c.Drifts.Add(1)
		}
		h.Metrics.observeEvent(ev)
		b, err := json.Marshal(ev)
		if err != nil {
			h.log().Error("event not encoded", "sensor", key, "err", err)
			continue
		}
		out.emit(ctx, h.Names.Events, key, b, nil)
	}
}
