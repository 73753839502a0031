package rls

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestNormalQuantile(t *testing.T) {
	// Reference values of Φ⁻¹ (Abramowitz & Stegun, table 26.5; R's qnorm).
	for _, c := range []struct{ p, q float64 }{
		{0.5, 0},
		{0.975, 1.959963984540054},
		{0.025, -1.959963984540054},
		{0.8413447460685429, 1},
		{0.995, 2.5758293035489004},
		{1e-10, -6.361340902404056},
		{1 - 1e-10, 6.361340889697422}, // 1 − 1e-10 is 1 − 1.00000008274037815e-10 in float64
	} {
		if got := NormalQuantile(c.p); math.Abs(got-c.q) > 1e-12*math.Max(1, math.Abs(c.q)) {
			t.Errorf("NormalQuantile(%v) = %v, want %v", c.p, got, c.q)
		}
	}
	// Deep in the tail, check Φ(q) = p with erfc (accurate there).
	for _, p := range []float64{1e-300, 1e-100, 1e-20, 1e-5, 0.3} {
		q := NormalQuantile(p)
		if got := math.Erfc(-q/math.Sqrt2) / 2; math.Abs(got-p) > 1e-12*p {
			t.Errorf("Φ(NormalQuantile(%v)) = %v", p, got)
		}
	}
	if q := IntervalQuantile(0.95); math.Abs(q-1.959963984540054) > 1e-14 {
		t.Errorf("IntervalQuantile(0.95) = %v", q)
	}
	for _, bad := range []float64{0, 1, -0.1, math.NaN()} {
		if !math.IsNaN(IntervalQuantile(bad)) {
			t.Errorf("IntervalQuantile(%v) is not NaN", bad)
		}
	}
	if !math.IsInf(NormalQuantile(0), -1) || !math.IsInf(NormalQuantile(1), 1) || !math.IsNaN(NormalQuantile(2)) {
		t.Error("NormalQuantile at 0, 1, 2: want -Inf, +Inf, NaN")
	}
}

// stream generates issue 10's synthetic sensor: x ~ N(0, I), θ* =
// [1, 0, …, 0, 1] (negated after flipAt samples if flipAt > 0), noise
// σ·N(0, 1), and with probability pOut an added error of ±outSize·σ.
type stream struct {
	rng           *rand.Rand
	n             int
	sigma         float64
	pOut, outSize float64
	flipAt        int
	k             int
	x             []float64
}

func newStream(seed uint64, n int, sigma float64) *stream {
	return &stream{rng: rand.New(rand.NewPCG(seed, 10)), n: n, sigma: sigma, x: make([]float64, n)}
}

// next returns the next sample and whether an outlier was added.
func (s *stream) next() (x []float64, y float64, outlier bool) {
	s.k++
	for j := range s.x {
		s.x[j] = s.rng.NormFloat64()
	}
	y = s.x[0] + s.x[s.n-1]
	if s.flipAt > 0 && s.k > s.flipAt {
		y = -y
	}
	y += s.sigma * s.rng.NormFloat64()
	if s.pOut > 0 && s.rng.Float64() < s.pOut {
		outlier = true
		if s.rng.IntN(2) == 0 {
			y += s.outSize * s.sigma
		} else {
			y -= s.outSize * s.sigma
		}
	}
	return s.x, y, outlier
}

// TestCalibration: issue 10's calibration on stationary data (n = 10,
// σ = 0.1, 16 sensors × 20,000 samples, after the first 1,000): for both
// default models the 95 % interval holds 0.95 ± 0.01 of the y, and z has
// mean 0 ± 0.03 and variance 1 ± 0.05. The interval is computed by
// PredictInterval before the update and checked against y; z is the
// update's own.
func TestCalibration(t *testing.T) {
	const n, sigma, sensors, N, skip = 10, 0.1, 16, 20000, 1000
	specs := DefaultSpecs()
	inside := make([]int, len(specs))
	zs := make([][]float64, len(specs))
	var count int
	for s := range sensors {
		src := newStream(uint64(s), n, sigma)
		b := NewBank(specs, n)
		for k := 1; k <= N; k++ {
			x, y, _ := src.next()
			var preds [2]Prediction
			if k > skip {
				for i, m := range b.Models {
					p, err := m.PredictInterval(x, 0.95)
					if err != nil {
						t.Fatal(err)
					}
					preds[i] = p
				}
			}
			if err := b.Update(x, y); err != nil {
				t.Fatal(err)
			}
			if k <= skip {
				continue
			}
			count++
			for i, m := range b.Models {
				p, sc := preds[i], m.LastScore()
				if p.Lo <= y && y <= p.Hi {
					inside[i]++
				}
				// The score of the update is the prediction made before it.
				// (SD to rounding: xᵀPx is summed in another order.)
				if sc.YHat != p.Y || math.Abs(sc.SD-p.SD) > 1e-14*p.SD || sc.E != y-p.Y {
					t.Fatalf("model %s sample %d: score %+v, prediction %+v", m.Name, k, sc, p)
				}
				zs[i] = append(zs[i], sc.Z)
			}
		}
	}
	for i, sp := range specs {
		cov := float64(inside[i]) / float64(count)
		mean, variance := meanVar(zs[i])
		t.Logf("%s: coverage %.4f, z mean %+.4f, z variance %.4f (%d samples)", sp.Name, cov, mean, variance, count)
		if math.Abs(cov-0.95) > 0.01 {
			t.Errorf("%s: 95 %% interval coverage %.4f, want 0.95 ± 0.01", sp.Name, cov)
		}
		if math.Abs(mean) > 0.03 || math.Abs(variance-1) > 0.05 {
			t.Errorf("%s: z mean %.4f, variance %.4f; want 0 ± 0.03, 1 ± 0.05", sp.Name, mean, variance)
		}
	}
}

func meanVar(v []float64) (mean, variance float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(v)-1)
}

// TestPredictSD recomputes ŷ, sd, lo and hi from θ, P and σ̂² with the
// textbook formulas, written out plainly.
func TestPredictSD(t *testing.T) {
	src := newStream(7, 5, 0.3)
	for _, sp := range DefaultSpecs() {
		m := NewModel(sp, 5)
		x0, _, _ := src.next()
		if _, sd := m.PredictSD(x0); !math.IsNaN(sd) {
			t.Errorf("%s: sd before any sample = %v, want NaN (σ̂² unknown)", sp.Name, sd)
		}
		for range 300 {
			x, y, _ := src.next()
			if _, err := m.Update(x, y); err != nil {
				t.Fatal(err)
			}
		}
		x, _, _ := src.next()
		var yhat, xpx float64
		for i := range x {
			yhat += x[i] * m.Theta[i]
			for j := range x {
				xpx += x[i] * m.P[i*5+j] * x[j]
			}
		}
		sd := math.Sqrt(m.Sigma2 * (sp.Lambda + xpx) / sp.Lambda)
		q := 1.959963984540054
		p, err := m.PredictInterval(x, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
		if !near(p.Y, yhat) || !near(p.SD, sd) || !near(p.Lo, yhat-q*sd) || !near(p.Hi, yhat+q*sd) {
			t.Errorf("%s: PredictInterval = %+v; want y %v sd %v lo %v hi %v", sp.Name, p, yhat, sd, yhat-q*sd, yhat+q*sd)
		}
		if _, err := m.PredictInterval(x, 1); err != ErrLevel {
			t.Errorf("level 1: err %v, want ErrLevel", err)
		}
	}
}

// TestAnomalies: outliers of ±10σ with probability 0.001: with the explicit
// threshold |AZ| > 4, at least 99 % of them flagged by the first model
// (λ = 1), at most 0.01 % of the other samples (after the first 1,000 of
// each sensor). At the default rate (far below the outliers' 0.001) the
// threshold rises until they fit the budget, but the first ones are
// episodes: at least 3 per sensor.
func TestAnomalies(t *testing.T) {
	const n, sigma, sensors, N, skip = 10, 0.1, 16, 20000, 1000
	var outliers, flaggedOut, others, flaggedOthers int
	fixed := &Scoring{AnomalyZ: DefaultAnomalyZ}
	for s := range sensors {
		src := newStream(100+uint64(s), n, sigma)
		src.pOut, src.outSize = 0.001, 10
		b := NewBank(DefaultSpecs(), n)
		def := NewBank(DefaultSpecs(), n)
		for k := 1; k <= N; k++ {
			x, y, out := src.next()
			before := b.Models[0].Anomalies
			if err := b.UpdateScored(x, y, fixed); err != nil {
				t.Fatal(err)
			}
			if err := def.Update(x, y); err != nil {
				t.Fatal(err)
			}
			sc := b.Models[0].LastScore()
			if got := b.Models[0].Anomalies - before; got != map[bool]uint64{false: 0, true: 1}[sc.Anomaly] {
				t.Fatalf("anomaly count moved by %d, score says %v", got, sc.Anomaly)
			}
			if k <= skip {
				continue
			}
			if out {
				outliers++
				if sc.Anomaly {
					flaggedOut++
				}
			} else {
				others++
				if sc.Anomaly {
					flaggedOthers++
				}
			}
		}
		if e := def.Models[0].Watch.Episodes; e < 3 {
			t.Errorf("sensor %d: %d episodes at the default rate, want ≥ 3", s, e)
		}
	}
	t.Logf("outliers flagged %d/%d, others flagged %d/%d", flaggedOut, outliers, flaggedOthers, others)
	if outliers < 200 || float64(flaggedOut) < 0.99*float64(outliers) {
		t.Errorf("flagged %d of %d outliers, want ≥ 99 %%", flaggedOut, outliers)
	}
	if float64(flaggedOthers) > 1e-4*float64(others) {
		t.Errorf("flagged %d of %d other samples, want ≤ 0.01 %%", flaggedOthers, others)
	}
}

// TestDriftDetection: θ* flips sign after 10,000 samples; the λ = 1 model's
// detector fires within 200 samples for each of 16 sensors (median ≤ 100),
// with at most 2 alarms in all before it. With DriftReset its recent MSE is back within
// 20 % of σ² 1,000 samples after the jump; without, it is not (λ = 1
// averages old and new θ* for ever).
func TestDriftDetection(t *testing.T) {
	const n, sigma, sensors, jump = 10, 0.1, 16, 10000
	for _, action := range []OnDrift{DriftNone, DriftReset} {
		sc := &Scoring{OnDrift: action}
		var delays []int
		var recent []float64
		falseAlarms := 0
		for s := range sensors {
			src := newStream(200+uint64(s), n, sigma)
			src.flipAt = jump
			b := NewBank(DefaultSpecs(), n)
			m := b.Models[0]
			delay := -1
			for k := 1; k <= jump+1000; k++ {
				x, y, _ := src.next()
				if err := b.UpdateScored(x, y, sc); err != nil {
					t.Fatal(err)
				}
				if !m.LastScore().Drift {
					continue
				}
				if k <= jump {
					falseAlarms++
				} else if delay < 0 {
					delay = k - jump
					if action == DriftReset && (m.P[0] != m.Delta || m.P[1] != 0) {
						t.Errorf("sensor %d: P not reset to δ·I after the alarm", s)
					}
				}
			}
			if delay < 0 || delay > 200 {
				t.Errorf("sensor %d: detection delay %d, want 1..200", s, delay)
			}
			delays = append(delays, delay)
			recent = append(recent, m.RecentMSE/(sigma*sigma))
		}
		if falseAlarms > 2 {
			t.Errorf("%d alarms in %d samples before the jump", falseAlarms, sensors*jump)
		}
		slices.Sort(delays)
		median := delays[len(delays)/2]
		t.Logf("action %d: delays %v (median %d); recent MSE/σ² 1,000 samples after the jump %.3g … %.3g",
			action, delays, median, slices.Min(recent), slices.Max(recent))
		if median > 100 {
			t.Errorf("median delay %d, want ≤ 100", median)
		}
		for s, r := range recent {
			if action == DriftReset && r > 1.2 {
				t.Errorf("reset, sensor %d: recent MSE %.3g σ², want ≤ 1.2 σ²", s, r)
			}
			if action == DriftNone && r < 2 {
				t.Errorf("no reset, sensor %d: recent MSE %.3g σ²: the λ = 1 model should not have recovered", s, r)
			}
		}
	}
}

// TestDriftFalseAlarms: over 10⁶ stationary samples (16 sensors × 62,500)
// at most 10 alarms of the λ = 1 model (and of the λ = 0.99 one).
func TestDriftFalseAlarms(t *testing.T) {
	const n, sigma, sensors, N = 10, 0.1, 16, 62500
	alarms := make([]uint64, 2)
	for s := range sensors {
		src := newStream(300+uint64(s), n, sigma)
		b := NewBank(DefaultSpecs(), n)
		for range N {
			x, y, _ := src.next()
			if err := b.Update(x, y); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range b.Models {
			alarms[i] += m.Drifts
		}
	}
	t.Logf("false alarms in %d samples: mod1 %d, mod2 %d", sensors*N, alarms[0], alarms[1])
	for i, a := range alarms {
		if a > 10 {
			t.Errorf("model %d: %d false alarms, want ≤ 10", i, a)
		}
	}
}

// TestScoringKeepsOracle: scoring does not touch θ and P (DriftNone), so a
// scored model is bit for bit one updated with the detector off.
func TestScoringKeepsOracle(t *testing.T) {
	src := newStream(9, 4, 0.1)
	src.flipAt = 500
	a := NewBank(DefaultSpecs(), 4)
	b := NewBank(DefaultSpecs(), 4)
	off := &Scoring{DriftOff: true, AnomalyZ: math.Inf(1)}
	for range 1000 {
		x, y, _ := src.next()
		if err := a.Update(x, y); err != nil {
			t.Fatal(err)
		}
		if err := b.UpdateScored(x, y, off); err != nil {
			t.Fatal(err)
		}
	}
	for i := range a.Models {
		if !slices.Equal(a.Models[i].Theta, b.Models[i].Theta) || !slices.Equal(a.Models[i].P, b.Models[i].P) {
			t.Errorf("model %d: θ or P differ with scoring on", i)
		}
		if a.Models[i].Drifts == 0 || b.Models[i].Drifts != 0 || b.Models[i].Anomalies != 0 {
			t.Errorf("model %d: drifts %d (on), %d (off), anomalies (off) %d", i, a.Models[i].Drifts, b.Models[i].Drifts, b.Models[i].Anomalies)
		}
	}
}

func TestUpdateScoredAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector empties sync.Pools at random")
	}
	src := newStream(3, 10, 0.1)
	b := NewBank(DefaultSpecs(), 10)
	sc := &Scoring{OnDrift: DriftReset}
	if a := testing.AllocsPerRun(1000, func() {
		x, y, _ := src.next()
		if err := b.UpdateScored(x, y, sc); err != nil {
			t.Fatal(err)
		}
		_ = b.Models[0].LastScore()
	}); a != 0 {
		t.Errorf("UpdateScored: %v allocs, want 0", a)
	}
}

func TestScoringValidate(t *testing.T) {
	if err := DefaultScoring().Validate(); err != nil {
		t.Error(err)
	}
	if err := (Scoring{}).Validate(); err != nil {
		t.Error(err)
	}
	for _, s := range []Scoring{
		{AnomalyZ: -1},
		{AnomalyZ: math.NaN()},
		{OnDrift: 7},
		{Drift: CUSUM{K: 0.5, H: 0, KScale: 1, HScale: 1, Clip: 1}},
		{Drift: CUSUM{K: 0.5, H: 1, KScale: 1, HScale: math.Inf(1), Clip: 1}},
	} {
		if s.Validate() == nil {
			t.Errorf("%+v: Validate = nil", s)
		}
	}
}

// TestLnNormal: lnNormal agrees with math.Log to 1e-9 over normal floats
// from the smallest to the largest, and at powers of two and around √2.
func TestLnNormal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 25))
	xs := []float64{0x1p-1022, math.MaxFloat64, 1, 2, 0.5, math.Sqrt2, math.Nextafter(math.Sqrt2, 2), math.Nextafter(math.Sqrt2, 0), 1e-300, 1e300}
	for range 100000 {
		xs = append(xs, math.Exp(rng.Float64()*1400-700), 0.5+rng.Float64()*1.5)
	}
	worst := 0.0
	for _, x := range xs {
		if d := math.Abs(lnNormal(x) - math.Log(x)); d > worst {
			worst = d
			if d > 1e-9 {
				t.Fatalf("lnNormal(%v) = %v, math.Log %v (off by %.3g)", x, lnNormal(x), math.Log(x), d)
			}
		}
	}
	t.Logf("largest error %.3g", worst)
}

// TestZRateForEachRate: the remembered threshold is the one of the rate
// asked for, when rates alternate and from goroutines at once.
func TestZRateForEachRate(t *testing.T) {
	rates := []float64{1e-7, 1e-3, 1e-7, 0.2, 1e-12, 1e-3}
	for _, p := range rates {
		if got, want := zRate(p), -NormalQuantile(p/2); got != want {
			t.Fatalf("zRate(%v) = %v, want %v", p, got, want)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				p := rates[(g+i)%len(rates)]
				if got, want := zRate(p), -NormalQuantile(p/2); got != want {
					t.Errorf("zRate(%v) = %v, want %v", p, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	sc := Scoring{AnomalyRate: 1e-4}
	var buf Scoring
	if r := sc.resolve(&buf); r.zRate != -NormalQuantile(1e-4/4) {
		t.Fatalf("resolved zRate %v, want %v", r.zRate, -NormalQuantile(1e-4/4))
	}
}
