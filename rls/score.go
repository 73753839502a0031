package rls

import (
	"errors"
	"fmt"
	"math"
)

// Scoring: uncertainty, anomalies and drift (docs/design.md, "Uncertainty,
// anomalies and drift"). In the Kalman reading of exponentially weighted RLS
// the a-priori error e = y − xᵀθ of a sample has variance σ²·κ/λ with
// κ = λ + xᵀPx (P before the update). Each model estimates σ² by σ̂² (Sigma2)
// from the normalised errors u = e²·λ/κ, standardises each error as
// z = e/√(σ̂²κ/λ) (σ̂² before the sample), tests |z| against a threshold and
// runs a CUSUM change detector on z.

// Defaults of Scoring.
const (
	// DefaultAnomalyZ: a sample with |z| > 4 is an anomaly (two-sided
	// normal tail 6.3·10⁻⁵).
	DefaultAnomalyZ = 4
	// DefaultIntervalLevel is the default coverage of prediction intervals.
	DefaultIntervalLevel = 0.95
	// ScoreWarmup is the least number of samples after a model's first
	// sample, and after every drift alarm, before anomalies and drift are
	// tested (see Model.warmup: max(ScoreWarmup, 10·Dim)). During it z is
	// still computed, but σ̂² (or, after a reset, θ) is not yet reliable.
	ScoreWarmup = 100
	// Sigma2Min is the least σ̂² of a model that has seen an error other
	// than 0 (the smallest normal float64).
	Sigma2Min = 0x1p-1022
	// Sigma2Clip winsorises the σ̂² update after the warm-up: u is capped at
	// Sigma2Clip²·σ̂², so one outlier moves σ̂² by at most a factor
	// 1 + w·(Sigma2Clip² − 1).
	Sigma2Clip = 3
)

// sigma2Winsor is E[min(Z², c²)] for Z ~ N(0, 1) and c = Sigma2Clip:
// 1 − 2cφ(c) + 2(c² − 1)(1 − Φ(c)). Dividing the winsorised u by it keeps σ̂²
// unbiased for Gaussian errors.
var invSigma2Winsor = 1 / sigma2Winsor

var sigma2Winsor = func() float64 {
	c := float64(Sigma2Clip)
	phi := math.Exp(-c*c/2) / math.Sqrt(2*math.Pi)
	tail := math.Erfc(c/math.Sqrt2) / 2
	return 1 - 2*c*phi + 2*(c*c-1)*tail
}()

// CUSUM is the parameters of the per-model change detector, a CUSUM (Page)
// on the standardised residuals z, each clipped to [−Clip, Clip]:
//
//	S⁺ ← max(0, S⁺ + z − K)       (mean of z up)
//	S⁻ ← max(0, S⁻ − z − K)       (mean of z down)
//	Sᵥ ← max(0, Sᵥ + z² − KScale)  (variance of z up)
//
// and it alarms when S⁺ > H, S⁻ > H or Sᵥ > HScale. K is half the mean
// shift (in units of σ) detected fastest and KScale = ln r/(1 − 1/r) is the
// likelihood-ratio reference for a variance ratio r (2.5: r ≈ 9, σ tripled);
// larger H mean fewer false alarms (the in-control run length grows about
// like e^(2K·H) and e^(0.45·HScale)) and a delay that grows linearly, about
// H/(shift − K) samples. Clip bounds what one outlier can add (Clip − K,
// Clip² − KScale: less than H and HScale, so a single outlier never alarms).
type CUSUM struct {
	K, H           float64
	KScale, HScale float64
	Clip           float64
}

// DefaultCUSUM returns K = 0.5, H = 15, KScale = 2.5, HScale = 40, Clip = 4:
// an in-control average run length of the order of 10⁷ samples (no alarm in
// 4·10⁶ simulated stationary samples, n = 10, either default model; with
// H = 12, HScale = 30 there were 5), a delay of about 30 samples for a mean
// shift of 1σ and of a few samples for a jump of θ* that triples the
// error's spread.
func DefaultCUSUM() CUSUM { return CUSUM{K: 0.5, H: 15, KScale: 2.5, HScale: 40, Clip: 4} }

// Validate reports whether the parameters are usable: all finite, K and
// KScale ≥ 0, H, HScale and Clip > 0.
func (c CUSUM) Validate() error {
	for _, v := range []float64{c.K, c.H, c.KScale, c.HScale, c.Clip} {
		if !finite(v) {
			return fmt.Errorf("rls: cusum %+v: parameters must be finite", c)
		}
	}
	if c.K < 0 || c.KScale < 0 || !(c.H > 0) || !(c.HScale > 0) || !(c.Clip > 0) {
		return fmt.Errorf("rls: cusum %+v: want K, KScale ≥ 0 and H, HScale, Clip > 0", c)
	}
	return nil
}

// OnDrift is what a model does when its detector alarms.
type OnDrift uint8

const (
	// DriftNone counts the drift and restarts the detector only.
	DriftNone OnDrift = iota
	// DriftReset also resets the covariance, P ← δ·I, keeping θ, so that a
	// λ = 1 model relearns instead of averaging old and new behaviour.
	DriftReset
)

// Scoring configures the tests applied to every sample. It is
// configuration, not state: nothing of it is persisted. The zero value
// means the defaults (DefaultScoring).
type Scoring struct {
	// AnomalyZ: |z| > AnomalyZ is an anomaly. 0 means DefaultAnomalyZ;
	// math.Inf(1) turns the test off.
	AnomalyZ float64
	// Drift is the detector's parameters; the zero value means
	// DefaultCUSUM.
	Drift CUSUM
	// DriftOff disables the change detector (its statistics stay 0).
	DriftOff bool
	// OnDrift is the action on an alarm.
	OnDrift OnDrift

	invH, invHScale float64 // 1/H, 1/HScale, set by resolved
}

// DefaultScoring returns anomalies at |z| > 4, DefaultCUSUM, action none.
func DefaultScoring() Scoring {
	return Scoring{AnomalyZ: DefaultAnomalyZ, Drift: DefaultCUSUM()}
}

// Validate reports whether s is usable (zero fields stand for defaults).
func (s Scoring) Validate() error {
	if math.IsNaN(s.AnomalyZ) || s.AnomalyZ < 0 {
		return fmt.Errorf("rls: anomaly threshold %v is not ≥ 0", s.AnomalyZ)
	}
	if s.OnDrift > DriftReset {
		return fmt.Errorf("rls: unknown drift action %d", s.OnDrift)
	}
	if s.Drift == (CUSUM{}) {
		return nil
	}
	return s.Drift.Validate()
}

var defaultScoring = func() Scoring {
	s := DefaultScoring()
	s.invH, s.invHScale = 1/s.Drift.H, 1/s.Drift.HScale
	return s
}()

// resolve returns s with zero fields replaced by defaults: the shared
// defaults for nil, else s completed in *buf.
func (s *Scoring) resolve(buf *Scoring) *Scoring {
	if s == nil {
		return &defaultScoring
	}
	*buf = *s
	if buf.AnomalyZ == 0 {
		buf.AnomalyZ = DefaultAnomalyZ
	}
	if buf.Drift == (CUSUM{}) {
		buf.Drift = DefaultCUSUM()
	}
	buf.invH, buf.invHScale = 1/buf.Drift.H, 1/buf.Drift.HScale
	return buf
}

// Detector is a model's change-detector state (persisted).
type Detector struct {
	Pos, Neg, Scale float64 // S⁺, S⁻, Sᵥ of CUSUM, each ≥ 0
	N               uint64  // samples since the detector (re)started: tests run once N ≥ the warm-up
}

// Score is what a model made of the sample it applied last (Model.LastScore).
type Score struct {
	YHat float64 // xᵀθ with θ before the update
	E    float64 // a-priori error y − YHat
	SD   float64 // √(σ̂²κ/λ), σ̂² before the update; NaN while σ̂² is unknown (0)
	Z    float64 // E/SD; NaN while σ̂² is unknown
	// Anomaly: |Z| > the anomaly threshold (never during the warm-up).
	Anomaly bool
	// Drift: the detector alarmed on this sample (then it restarted, and
	// with DriftReset P was reset).
	Drift bool
	// Statistic is the detector's normalised statistic after the sample,
	// max(S⁺/H, S⁻/H, Sᵥ/HScale); it alarms above 1. On an alarm it is the
	// value that crossed (the statistics themselves restart at 0).
	Statistic float64
}

// Interval returns YHat ± q·SD (q from IntervalQuantile).
func (s Score) Interval(q float64) (lo, hi float64) { return s.YHat - q*s.SD, s.YHat + q*s.SD }

// Prediction is a model's answer for a new x: ŷ, its standard deviation
// as a prediction of y, and the interval ŷ ± q·SD.
type Prediction struct {
	Y, SD, Lo, Hi float64
}

// ErrLevel: an interval level outside (0, 1).
var ErrLevel = errors.New("rls: interval level must be in (0, 1)")

// NormalQuantile returns Φ⁻¹(p), the p-quantile of the standard normal
// distribution: √2·erfinv(2p − 1). It is NaN outside [0, 1] and ∓Inf at 0
// and 1.
func NormalQuantile(p float64) float64 {
	switch {
	case p < 0 || p > 1 || math.IsNaN(p):
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p > 0.5:
		return -NormalQuantile(1 - p)
	}
	// erfcinv loses relative accuracy deep in the tail (about 10⁻⁷ at
	// p = 10⁻¹⁰, and it is infinite below about 10⁻¹⁶): there start from
	// Abramowitz & Stegun 26.2.23 (error < 4.5·10⁻⁴) instead. Newton steps
	// on ln Φ(q) = ln p, with Φ(q) = erfc(−q/√2)/2 (accurate in the tail),
	// then give full precision.
	var q float64
	if p > 1e-10 {
		q = -math.Sqrt2 * math.Erfcinv(2*p)
	} else {
		t := math.Sqrt(-2 * math.Log(p))
		q = -(t - (2.515517+0.802853*t+0.010328*t*t)/(1+1.432788*t+0.189269*t*t+0.001308*t*t*t))
	}
	for range 4 {
		cdf := math.Erfc(-q/math.Sqrt2) / 2
		pdf := math.Exp(-q*q/2) / math.Sqrt(2*math.Pi)
		if cdf == 0 || pdf == 0 {
			break
		}
		step := (math.Log(cdf) - math.Log(p)) * cdf / pdf
		q -= step
		if math.Abs(step) <= 1e-15*math.Abs(q) {
			break
		}
	}
	return q
}

// IntervalQuantile returns q for a central interval of coverage level:
// Φ⁻¹((1 + level)/2), 1.959963984540054 for 0.95. It is NaN unless level is
// in (0, 1).
func IntervalQuantile(level float64) float64 {
	if !(level > 0 && level < 1) {
		return math.NaN()
	}
	return math.Sqrt2 * math.Erfinv(level)
}

// PredictSD returns the prediction xᵀθ and its standard deviation as a
// prediction of y, √(σ̂²κ/λ) with κ = λ + xᵀPx; sd is NaN while σ̂² is
// unknown. xᵀPx is computed with x scaled when its square would overflow,
// and taken as ≥ 0, so sd ≥ √σ̂². It changes nothing and does not allocate.
// It panics if len(x) != Dim.
func (m *Model) PredictSD(x []float64) (yhat, sd float64) {
	yhat = m.Predict(x)
	n := m.Dim
	var xpx float64
	for i := 0; i < n; i++ {
		xpx += x[i] * dot(x, m.P[i*n:i*n+n])
	}
	if kol := (m.Lambda + fmax(xpx, 0)) / m.Lambda; finite(kol) {
		return yhat, predSD(m.Sigma2, kol)
	}
	// x/s with s a power of two near max |x_i|: κ/λ = 1 + s²·q/λ with
	// q = (x/s)ᵀP(x/s), and √(κ/λ) = s·√(1/s² + q/λ).
	var mx float64
	for _, v := range x {
		mx = fmax(mx, abs(v))
	}
	_, k := math.Frexp(mx)
	var q float64
	for i := 0; i < n; i++ {
		var r float64
		for j := 0; j < n; j++ {
			r += m.P[i*n+j] * math.Ldexp(x[j], -k)
		}
		q += math.Ldexp(x[i], -k) * r
	}
	if !(m.Sigma2 > 0) || !finite(q) {
		return yhat, math.NaN()
	}
	root := math.Ldexp(math.Sqrt(math.Ldexp(1, -2*k)+fmax(q, 0)/m.Lambda), k)
	return yhat, math.Sqrt(m.Sigma2) * root
}

// PredictInterval returns ŷ, SD and the central interval of coverage
// level (e.g. DefaultIntervalLevel) for x. It panics if len(x) != Dim; the
// error is ErrLevel for a level outside (0, 1).
func (m *Model) PredictInterval(x []float64, level float64) (Prediction, error) {
	q := IntervalQuantile(level)
	if math.IsNaN(q) {
		return Prediction{}, ErrLevel
	}
	y, sd := m.PredictSD(x)
	return Prediction{Y: y, SD: sd, Lo: y - q*sd, Hi: y + q*sd}, nil
}

func predSD(sigma2, kappaOverLambda float64) float64 {
	if !(sigma2 > 0) {
		return math.NaN()
	}
	if v := sigma2 * kappaOverLambda; v <= math.MaxFloat64 {
		return math.Sqrt(v)
	}
	return math.Sqrt(sigma2) * math.Sqrt(kappaOverLambda)
}

// LastScore returns the score of the sample the model applied last (the
// zero Score before any sample since the model was built or decoded).
func (m *Model) LastScore() Score { return m.next.score }

// warmup is the samples before anomalies and drift are tested, after the
// first sample and after each alarm: at least ScoreWarmup and 10 samples per
// dimension, so that θ (after a reset) and σ̂² are determined.
func (m *Model) warmup() uint64 { return uint64(max(ScoreWarmup, 10*m.Dim)) }

// scoreNext computes, into m.next, the scoring part of an update with a-priori
// error e and κ/λ = kol = 1/invKol, without changing m.
func (m *Model) scoreNext(yhat, e, kol, invKol float64, sc *Scoring) {
	w := &m.next
	s := Score{YHat: yhat, E: e, SD: predSD(m.Sigma2, kol)}
	s.Z = e / s.SD // NaN when SD is

	// σ̂²: the mean of u = e²λ/κ, weighted 1/N (a running mean) until N
	// reaches 1/(1 − λ) and 1 − λ after (exponential forgetting with the
	// model's own λ); winsorised at Sigma2Clip²·σ̂² after the warm-up.
	u := e * e * invKol
	if !finite(u) {
		u = e * math.Sqrt(invKol)
		u = fmin(u*u, math.MaxFloat64)
	}
	cnt := m.Sigma2N + 1
	warm := m.warmup()
	if m.Sigma2N >= warm && m.Sigma2 > 0 {
		u = fmin(u, Sigma2Clip*Sigma2Clip*m.Sigma2) * invSigma2Winsor
	}
	// max(1/cnt, 1 − λ), without the division once 1 − λ is the larger.
	wt := 1 - m.Lambda
	if float64(cnt)*wt < 1 {
		wt = 1 / float64(cnt)
	}
	s2 := m.Sigma2 + wt*(u-m.Sigma2)
	if cnt == 1 {
		s2 = u
	}
	// σ̂² is a float64 in the state: errors whose square underflows (a
	// sensor at 10⁻³⁰⁰) keep it at the smallest normal number instead of
	// 0 ("unknown"), once any error was not 0.
	if s2 < Sigma2Min && (e != 0 || m.Sigma2 > 0) {
		s2 = Sigma2Min
	}
	s2 = fmin(s2, math.MaxFloat64)

	det := m.Detector
	det.N++
	var anomalies, drifts uint64
	if m.Detector.N >= warm && finite(s.Z) {
		if abs(s.Z) > sc.AnomalyZ {
			s.Anomaly = true
			anomalies = 1
		}
		if !sc.DriftOff {
			c := &sc.Drift
			z := fmax(-c.Clip, fmin(c.Clip, s.Z))
			det.Pos = fmax(0, det.Pos+z-c.K)
			det.Neg = fmax(0, det.Neg-z-c.K)
			det.Scale = fmax(0, det.Scale+z*z-c.KScale)
			s.Statistic = fmax(fmax(det.Pos, det.Neg)*sc.invH, det.Scale*sc.invHScale)
			if s.Statistic > 1 {
				s.Drift = true
				drifts = 1
				det = Detector{}
			}
		}
	}
	w.score = s
	w.sigma2 = s2
	w.det = det
	w.anomalies, w.drifts = anomalies, drifts
	w.reset = s.Drift && sc.OnDrift == DriftReset
}

// commitScore makes the scoring part of the last prepare the model's state.
func (m *Model) commitScore() {
	w := &m.next
	m.Sigma2 = w.sigma2
	m.Sigma2N++
	m.Detector = w.det
	m.Anomalies += w.anomalies
	m.Drifts += w.drifts
	if w.reset {
		m.ResetCovariance()
	}
}

// ResetCovariance sets P ← δ·I and keeps θ (the DriftReset action): the
// model then weighs its current θ like its prior and relearns at the speed
// of a new model. The detector restarts. σ̂² and the counts are kept.
func (m *Model) ResetCovariance() {
	n := m.Dim
	p := m.P[:n*n]
	clear(p)
	for i := 0; i < n; i++ {
		p[i*n+i] = m.Delta
	}
	m.Detector = Detector{}
}

func abs(v float64) float64 { return math.Abs(v) }

// fmax and fmin are max and min for numbers known not to be NaN, without
// the builtins' NaN and signed-zero handling (hot path).
func fmax(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func fmin(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}
