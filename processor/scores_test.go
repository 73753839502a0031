package processor

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
)

// TestScoresAndEvents: the scores topic carries, per message, each applied
// sample's scores as an rls.Bank fed the same samples computes them, and
// the events topic every anomaly episode of the score model (opened and
// closed) and every drift alarm of any model, at the sample where the bank
// saw it, with the sample's seq and own time.
func TestScoresAndEvents(t *testing.T) {
	const dim, n, per = 3, 1200, 2
	sc := rls.DefaultScoring()
	sc.OnDrift = rls.DriftReset
	r := rand.New(rand.NewPCG(1, 2))
	var samples []codec.Sample
	oracle := rls.NewBank(rls.DefaultSpecs(), dim)
	var want [][]rls.Score
	for k := range n {
		x := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		sign := 1.0
		if k >= 800 {
			sign = -1 // a jump of θ*: the detectors fire
		}
		y := sign*(x[0]+x[2]) + 0.1*r.NormFloat64()
		if k == 400 || k == 600 {
			y += 2 // 20σ: an anomaly
		}
		samples = append(samples, codec.Sample{X: x, Y: y, Seq: int64(k), HasSeq: true, TS: 1000 + int64(k)})
		if err := oracle.UpdateScored(x, y, &sc); err != nil {
			t.Fatal(err)
		}
		var s []rls.Score
		for _, m := range oracle.Models {
			s = append(s, m.LastScore())
		}
		want = append(want, s)
	}
	for _, publish := range []bool{true, false} {
		rig := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
		rig.h.Learner = RLS{Specs: rls.DefaultSpecs(), Scoring: &sc}
		rig.h.Scoring = Scoring{Publish: publish, Model: "mod2", IntervalLevel: 0.9}
		for k := 0; k < n; k += per {
			rig.process("s", int64(k/per), codec.Encode(codec.FormatJSON, nil, samples[k:k+per]))
		}
		rig.batch().flush(false)
		records := rig.prod.written[rig.h.Names.Scores]
		if !publish {
			if len(records) != 0 {
				t.Errorf("without Publish: %d score records", len(records))
			}
		} else {
			checkScores(t, records, samples, want, per)
		}
		checkEvents(t, rig.prod.written[rig.h.Names.Events], want, per, rig.h.counts())
	}
}

func checkScores(t *testing.T, records []outMsg, samples []codec.Sample, want [][]rls.Score, per int) {
	t.Helper()
	if len(records) != len(samples)/per {
		t.Fatalf("%d score records, want one per message (%d)", len(records), len(samples)/per)
	}
	q := rls.IntervalQuantile(0.9)
	recs := make([]schema.ScoreRecord, len(records))
	for i, m := range records {
		if err := json.Unmarshal(m.value, &recs[i]); err != nil || m.key != "s" {
			t.Fatalf("record %d: key %q: %v", i, m.key, err)
		}
	}
	// The fake producer acknowledges in any order.
	sort.Slice(recs, func(i, j int) bool { return recs[i].Offset < recs[j].Offset })
	for i, rec := range recs {
		if rec.Sensor != "s" || rec.Partition != 0 || rec.Offset != int64(i) || len(rec.Samples) != per {
			t.Fatalf("record %d: %+v", i, rec)
		}
		for j, ss := range rec.Samples {
			k := i*per + j
			if ss.Seq == nil || *ss.Seq != int64(k) || ss.TS == nil || *ss.TS != 1000+int64(k) || ss.Y != samples[k].Y ||
				ss.SampleTS != 1000+int64(k) || ss.SampleTime != time.UnixMilli(1000+int64(k)).UTC().Format(time.RFC3339Nano) {
				t.Fatalf("sample %d: seq %v ts %v y %v sample time %v %v", k, ss.Seq, ss.TS, ss.Y, ss.SampleTS, ss.SampleTime)
			}
			for mi, ms := range ss.Models {
				w := want[k][mi]
				if ms.Model != rls.DefaultSpecs()[mi].Name || ms.YHat != w.YHat || ms.E != w.E || ms.Threshold != w.Threshold ||
					(ms.AZ == nil) != math.IsNaN(w.AZ) || ms.AZ != nil && *ms.AZ != w.AZ {
					t.Fatalf("sample %d model %d: %+v, want %+v", k, mi, ms, w)
				}
				if math.IsNaN(w.Z) {
					if ms.Z != nil || ms.Lo != nil || ms.Hi != nil {
						t.Fatalf("sample %d model %d: z, lo, hi while σ̂² is unknown", k, mi)
					}
					continue
				}
				lo, hi := w.Interval(q)
				if ms.Z == nil || *ms.Z != w.Z || *ms.Lo != lo || *ms.Hi != hi {
					t.Fatalf("sample %d model %d: z/lo/hi %v %v %v, want %v %v %v", k, mi, ms.Z, ms.Lo, ms.Hi, w.Z, lo, hi)
				}
			}
		}
	}
}

func checkEvents(t *testing.T, events []outMsg, want [][]rls.Score, per int, c *Counts) {
	t.Helper()
	type ev struct {
		model, kind string
		samples     uint64
	}
	exp := map[ev]int{}
	anomalies, ends, drifts := 0, 0, 0
	for k, s := range want {
		for mi, w := range s {
			name := rls.DefaultSpecs()[mi].Name
			if w.Opened && name == "mod2" {
				exp[ev{name, schema.EventAnomaly, uint64(k + 1)}]++
				anomalies++
			}
			if w.Closed && name == "mod2" {
				exp[ev{name, schema.EventAnomalyEnd, uint64(k + 1)}]++
				ends++
			}
			if w.Drift {
				exp[ev{name, schema.EventDrift, uint64(k + 1)}]++
				drifts++
			}
		}
	}
	if anomalies < 2 || ends < 1 || drifts < 2 {
		t.Fatalf("the oracle saw %d anomalies and %d drifts: the test data should have both", anomalies, drifts)
	}
	if len(events) != anomalies+ends+drifts {
		t.Fatalf("%d events, want %d", len(events), anomalies+ends+drifts)
	}
	for i, m := range events {
		var e schema.Event
		if err := json.Unmarshal(m.value, &e); err != nil {
			t.Fatal(err)
		}
		got := ev{e.Model, e.Kind, e.Samples}
		k := int64(e.Samples - 1)
		if exp[got] == 0 || e.Sensor != "s" || e.Offset != k/int64(per) || e.Time != "2001-09-09T01:46:40Z" ||
			e.Seq == nil || *e.Seq != k || e.SampleTS != 1000+k || e.SampleTime != time.UnixMilli(1000+k).UTC().Format(time.RFC3339Nano) {
			t.Errorf("event %d: %+v, not expected", i, e)
		}
		if (e.Kind == schema.EventAnomaly) != (e.Z != nil && e.Threshold != nil && math.Abs(*e.Z) > *e.Threshold) ||
			(e.Kind == schema.EventAnomalyEnd) != (e.Peak != nil && e.Count > 0) ||
			(e.Kind == schema.EventDrift) != (e.Statistic != nil) {
			t.Errorf("event %d: %+v", i, e)
		}
		exp[got]--
		if e.Statistic != nil && !(*e.Statistic > 1) {
			t.Errorf("drift event %d: statistic %v, want > 1", i, *e.Statistic)
		}
	}
	if c.Anomalies.Load() != uint64(anomalies) || c.Drifts.Load() != uint64(drifts) {
		t.Errorf("counts: %d anomalies, %d drifts; want %d, %d", c.Anomalies.Load(), c.Drifts.Load(), anomalies, drifts)
	}
}
