package rls

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
)

// Scoring: uncertainty, anomalies and drift (docs/design.md, "Uncertainty,
// anomalies and drift"). In the Kalman reading of exponentially weighted RLS
// the a-priori error e = y − xᵀθ of a sample has variance σ²·κ/λ with
// κ = λ + xᵀPx (P before the update). Each model estimates σ² by σ̂² (Sigma2)
// from the normalised errors u = e²·λ/κ, standardises each error as
// z = e/√(σ̂²κ/λ) (σ̂² before the sample), tests |z| against a threshold and
// runs a CUSUM change detector on z.
//
// The anomaly test has its own statistic (Watch, docs/operations.md,
// "Scores, anomalies and drift"): σ̂² is a variance, which heavy tails and
// skew inflate and a constant stretch drives to zero, so an anomaly is
// judged against a robust, fast scale with a floor tied to the sensor's
// level, and the threshold is fitted online so that the rate of false
// episodes is the configured one whatever the shape of the tail.

// Defaults of Scoring.
const (
	// DefaultAnomalyZ is a sensible explicit threshold (Scoring.AnomalyZ)
	// for Gaussian errors: two-sided normal tail 6.3·10⁻⁵.
	DefaultAnomalyZ = 4
	// DefaultAnomalyRate is the default false-alarm budget (Scoring.AnomalyRate):
	// one anomalous sample in 10⁷ clean ones per sensor, so at most one
	// false episode (a page) per 10⁷ samples and sensor; docs/operations.md
	// says what that means for a fleet.
	DefaultAnomalyRate = 1e-7
	// EpisodeGap is the number of consecutive normal samples that close an
	// anomaly episode.
	EpisodeGap = 10
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
	// AnomalyRate is the false-alarm budget: the expected anomalous samples
	// per clean sample. The threshold on |AZ| is fitted online to it
	// (Watch). 0 means DefaultAnomalyRate.
	AnomalyRate float64
	// AnomalyZ > 0 is an explicit threshold on |AZ| instead of the fitted
	// one (an expert override); math.Inf(1) turns both anomaly tests off
	// (the error test and the spread test). 0 means the fitted threshold.
	AnomalyZ float64
	// Robust bounds the error with which a sample updates θ (Huber): e is
	// clipped at RobustClip times the robust scale, so a gross outlier does
	// not drag θ. Off, θ is the plain least squares.
	Robust bool
	// Drift is the detector's parameters; the zero value means
	// DefaultCUSUM.
	Drift CUSUM
	// DriftOff disables the change detector (its statistics stay 0).
	DriftOff bool
	// OnDrift is the action on an alarm.
	OnDrift OnDrift

	invH, invHScale float64 // 1/H, 1/HScale, set by resolve
	zRate           float64 // the Gaussian threshold of AnomalyRate, set by resolve
	stepUp, stepDn  float64 // the fitted threshold's steps, set by resolve
}

// DefaultScoring returns anomalies at DefaultAnomalyRate, DefaultCUSUM,
// action none.
func DefaultScoring() Scoring {
	return Scoring{AnomalyRate: DefaultAnomalyRate, Drift: DefaultCUSUM()}
}

// Validate reports whether s is usable (zero fields stand for defaults).
func (s Scoring) Validate() error {
	if math.IsNaN(s.AnomalyZ) || s.AnomalyZ < 0 {
		return fmt.Errorf("rls: anomaly threshold %v is not ≥ 0", s.AnomalyZ)
	}
	if !(s.AnomalyRate >= 0 && s.AnomalyRate < 0.5) {
		return fmt.Errorf("rls: anomaly rate %v is not in [0, 0.5)", s.AnomalyRate)
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
	s.derive()
	return s
}()

// derive sets the unexported figures of a resolved s.
func (s *Scoring) derive() {
	s.invH, s.invHScale = 1/s.Drift.H, 1/s.Drift.HScale
	// The budget is shared by the two tests (error and spread).
	p := s.AnomalyRate / 2
	s.zRate = zRate(p)
	s.stepUp, s.stepDn = ThresholdStep*(1-p), ThresholdStep*p
}

// zRate returns the two-sided Gaussian threshold −Φ⁻¹(p/2), the last one
// remembered: a processor resolves its one Scoring on every sample, and
// NormalQuantile costs as much as the update of a bank.
func zRate(p float64) float64 {
	if c := lastZRate.Load(); c != nil && c.p == p {
		return c.z
	}
	c := &rateZ{p, -NormalQuantile(p / 2)}
	lastZRate.Store(c)
	return c.z
}

type rateZ struct{ p, z float64 }

var lastZRate atomic.Pointer[rateZ]

// resolve returns s with zero fields replaced by defaults: the shared
// defaults for nil, else s completed in *buf.
func (s *Scoring) resolve(buf *Scoring) *Scoring {
	if s == nil {
		return &defaultScoring
	}
	*buf = *s
	if buf.AnomalyRate == 0 {
		buf.AnomalyRate = DefaultAnomalyRate
	}
	if buf.Drift == (CUSUM{}) {
		buf.Drift = DefaultCUSUM()
	}
	buf.derive()
	return buf
}

// Detector is a model's change-detector state (persisted).
type Detector struct {
	Pos, Neg, Scale float64 // S⁺, S⁻, Sᵥ of CUSUM, each ≥ 0
	N               uint64  // samples since the detector (re)started: tests run once N ≥ the warm-up
}

// Parameters of the anomaly statistic (Watch).
const (
	// ScaleAlpha is the weight of the newest sample in Watch.Scale and
	// Watch.Level: a window of about 1/ScaleAlpha samples, short enough to
	// follow errors whose spread changes (heteroscedastic), long enough
	// that the scale's own noise adds little to the tail of AZ.
	ScaleAlpha = 0.005
	// ScaleClip winsorises r at ScaleClip times the scale, so one outlier
	// moves the scale by at most a factor 1 + ScaleAlpha·(ScaleClip − 1).
	ScaleClip = 3
	// EpisodeAlpha and EpisodeClip replace ScaleAlpha and ScaleClip once
	// an episode has had EpisodeFast anomalous samples, until it closes:
	// errors that stay large are a new spread, which the scale then
	// follows within a few samples (after an exactly constant stretch,
	// say), while a lone outlier or a short burst still moves it little.
	EpisodeAlpha = 0.1
	EpisodeClip  = 10
	EpisodeFast  = 5
	// FloorRel ties the scale's floor to the sensor's own level: the scale
	// used is at least FloorRel·Watch.Level, about the resolution at which
	// a sensor's values are still meaningful, so an exactly constant
	// stretch does not leave a scale of zero.
	FloorRel = 1e-6
	// ThresholdStep is the fitted threshold's step in ln: up by about
	// ThresholdStep when an episode opens, down by ThresholdStep·rate on
	// every normal sample. Over any stretch after the first EarlySteps
	// episodes, the episodes opened minus rate·(normal samples) is the
	// change of ln(threshold)/ThresholdStep, so the false-alarm rate meets
	// the budget whatever the tail's shape.
	ThresholdStep = 0.1
	// RobustClip is the Huber constant of Scoring.Robust, in units of the
	// robust scale σₐ.
	RobustClip = 3
	// SpreadShortAlpha and SpreadLongAlpha are the weights of the newest
	// sample in the spread test's short and long means (windows of about
	// 20 and 1,000 samples); SpreadWarmup is its least warm-up.
	SpreadShortAlpha = 0.05
	SpreadLongAlpha  = 0.001
	SpreadWarmup     = 200
	// SpreadLow: the spread test's r is at least SpreadLow times the
	// robust scale (Watch.Scale).
	SpreadLow = 0.1
	// EarlySteps: the threshold's first up-steps are larger,
	// ThresholdStep·√(EarlySteps/k) at the k-th episode, until k reaches
	// EarlySteps.
	EarlySteps = 10
	// minTail bounds the fitted threshold below at minTail times the
	// Gaussian one.
	minTail = 0.25
)

// spreadK is the standard deviation of the short mean of independent
// values of unit variance: √(α/(2 − α)), α = SpreadShortAlpha.
var spreadK = math.Sqrt(SpreadShortAlpha / (2 - SpreadShortAlpha))

// scaleNorm is the value of Watch.Scale for errors r = |N(0, 1)|: the
// fixed point a = E[min(|Z|, ScaleClip·a)] = 2(φ(0) − φ(ca)) + ca·erfc(ca/√2).
// Dividing by it makes AZ standard normal for Gaussian errors.
var invScaleNorm = 1 / scaleNorm

var scaleNorm = func() float64 {
	phi := func(t float64) float64 { return math.Exp(-t*t/2) / math.Sqrt(2*math.Pi) }
	a := math.Sqrt(2 / math.Pi)
	for range 100 {
		b := ScaleClip * a
		a = 2*(phi(0)-phi(b)) + b*math.Erfc(b/math.Sqrt2)
	}
	return a
}()

// Watch is a model's anomaly-test state (persisted): a robust scale of the
// normalised errors r = |e|/√(κ/λ), the fitted threshold and the open
// episode. AZ = e/(√(κ/λ)·σₐ) with σₐ = max(Scale, FloorRel·Level)/scaleNorm.
type Watch struct {
	// Scale is the exponentially weighted mean of r, each r winsorised at
	// ScaleClip·Scale (a running mean until 1/ScaleAlpha samples); 0 =
	// unknown.
	Scale float64
	// Level is the exponentially weighted mean of |y| (the floor's
	// reference).
	Level float64
	// Tail is the fitted threshold over the Gaussian one for the rate:
	// threshold = Tail·Φ⁻¹(1 − rate/2). 0 stands for 1.
	Tail float64
	// Episodes counts the anomaly episodes opened.
	Episodes uint64
	// Open is the anomalous samples of the open episode (0: none open),
	// Peak its largest |AZ| and Quiet the normal samples since its last
	// anomalous one.
	Open  uint64
	Peak  float64
	Quiet uint64

	// The spread test (Model.spreadNext) on g = ln(max(r, floor)):
	// SpreadN samples seen, SpreadMean and SpreadVar the long
	// exponentially weighted mean and variance of g, SpreadShort its
	// short one, SpreadTail the fitted threshold's factor (as Tail),
	// SpreadSide the side of its last crossing (+1 errors larger, −1
	// smaller) until SZ came back to 0, else 0.
	SpreadN                            uint64
	SpreadMean, SpreadVar, SpreadShort float64
	SpreadTail                         float64
	SpreadSide                         int8
}

// check reports whether w holds finite numbers ≥ 0.
func (w *Watch) check() error {
	for _, v := range []float64{w.Scale, w.Level, w.Tail, w.Peak, w.SpreadVar, w.SpreadTail} {
		if !finite(v) || v < 0 {
			return fmt.Errorf("anomaly state %+v: want finite numbers ≥ 0", *w)
		}
	}
	if !finite(w.SpreadMean) || !finite(w.SpreadShort) || w.SpreadSide < -1 || w.SpreadSide > 1 {
		return fmt.Errorf("anomaly state %+v: want finite spread means and a side of -1, 0 or 1", *w)
	}
	return nil
}

// sigma returns σₐ, the robust error scale, or 0 while it is unknown.
func (w *Watch) sigma() float64 {
	return fmax(w.Scale, FloorRel*w.Level) * invScaleNorm
}

// threshold returns the threshold on |AZ| in force.
func (w *Watch) threshold(sc *Scoring) float64 {
	if sc.AnomalyZ > 0 {
		return sc.AnomalyZ
	}
	return w.tail() * sc.zRate
}

// tail returns the error test's fitted threshold factor.
func (w *Watch) tail() float64 { return factor(w.Tail) }

// spreadTail returns the spread test's fitted threshold factor.
func (w *Watch) spreadTail() float64 { return factor(w.SpreadTail) }

// factor returns a stored threshold factor: 0 (never fitted) stands for 1.
func factor(t float64) float64 {
	if t == 0 {
		return 1
	}
	return t
}

// spreadThreshold returns the threshold on |SZ| in force.
func (w *Watch) spreadThreshold(sc *Scoring) float64 {
	if math.IsInf(sc.AnomalyZ, 1) {
		return sc.AnomalyZ
	}
	return w.spreadTail() * sc.zRate
}

// spreadNext advances the spread test of wa past a sample with normalised
// error r and sets s.SZ and s.SpreadThreshold; it reports whether |SZ|
// crossed the threshold on this sample, which counts only once tested
// (the model's warm-up is over). The test compares a short mean
// of g = ln r (the errors' typical size lately) with the long mean and
// spread of g, so it finds errors that grow or shrink for a while (a
// burst, a changed regime, a stuck sensor) though no single one is out of
// line. Only the crossing counts as anomalous: the statistic is smooth,
// and the samples after the crossing hold no new evidence; they keep the
// episode open until SZ is back at 0.
func (m *Model) spreadNext(wa *Watch, s *Score, r float64, tested bool, sc *Scoring) (crossed bool) {
	// In locals, read once and written once: stores through s would
	// otherwise make the compiler load wa's fields again.
	n, mean, vr, short, side := wa.SpreadN+1, wa.SpreadMean, wa.SpreadVar, wa.SpreadShort, wa.SpreadSide
	sz, thr := math.NaN(), wa.spreadThreshold(sc)
	// r is floored at a fraction of the robust scale: ln r has a long
	// lower tail (an error near 0), which would otherwise make sz
	// heavy-tailed; an error that stays that small is still found.
	floor := fmax(fmax(FloorRel*wa.Level, SpreadLow*wa.Scale), Sigma2Min)
	g := lnNormal(max(fmin(r, math.MaxFloat64), floor))
	if n == 1 {
		mean, short, vr = g, g, 1
	} else {
		sd := math.Sqrt(vr) * spreadK
		// 1/sd depends on the state only, so it is ready before g: a
		// multiply instead of a division at the end of the chain from the
		// sample to SZ. Where 1/sd would overflow, the division stays.
		isd := 1 / sd
		short += SpreadShortAlpha * (g - short)
		if sd > 0 {
			if isd <= math.MaxFloat64 {
				sz = (short - mean) * isd
			} else {
				sz = (short - mean) / sd
			}
			switch {
			case side != 0:
				// Re-armed once back at the reference: a statistic
				// sliding back through the threshold does not cross
				// again and again, and the episode lasts while the errors
				// are off their usual size (watchNext).
				if float64(side)*sz <= 0 {
					side = 0
				}
			case tested && abs(sz) > thr && n > m.spreadWarmup():
				crossed, side = true, 1
				if sz < 0 {
					side = -1
				}
			}
		}
		w := float64(SpreadLongAlpha) // max(1/N, α), dividing only while 1/N is the larger
		if c := float64(int64(n)); c*w < 1 {
			w = 1 / c
		}
		d := g - mean
		mean += w * d
		vr = (1 - w) * (vr + w*d*d)
	}
	wa.SpreadN, wa.SpreadMean, wa.SpreadVar, wa.SpreadShort, wa.SpreadSide = n, mean, vr, short, side
	s.SZ, s.SpreadThreshold = sz, thr
	return crossed
}

// spreadWarmup is the samples before the spread test is applied: its long
// mean needs more than the error test's scale.
func (m *Model) spreadWarmup() uint64 { return max(SpreadWarmup, m.warmup()) }

// boundedError returns the error with which the sample updates θ: e, or
// with sc.Robust and once tested, e clipped at RobustClip times the robust
// scale (Huber); sqk is √(κ/λ).
func (m *Model) boundedError(e, sqk float64, sc *Scoring) float64 {
	if !sc.Robust { // inlined: the common case costs a test
		return e
	}
	return m.huber(e, sqk)
}

// huber is boundedError's clipping, out of line so that boundedError
// inlines.
//
//go:noinline
func (m *Model) huber(e, sqk float64) float64 {
	if m.Detector.N < m.warmup() {
		return e
	}
	sd := m.Watch.sigma() * sqk
	if !(sd > 0) {
		return e
	}
	limit := RobustClip * sd
	switch {
	case e > limit:
		return limit
	case e < -limit:
		return -limit
	}
	return e
}

// Score is what a model made of the sample it applied last (Model.LastScore).
type Score struct {
	YHat float64 // xᵀθ with θ before the update
	E    float64 // a-priori error y − YHat
	SD   float64 // √(σ̂²κ/λ), σ̂² before the update; NaN while σ̂² is unknown (0)
	Z    float64 // E/SD; NaN while σ̂² is unknown
	// AZ is the anomaly test's statistic, e over the robust scale (Watch);
	// NaN while that scale is unknown. Threshold is the threshold on |AZ|
	// in force.
	AZ, Threshold float64
	// SZ is the spread test's statistic (Watch.SpreadShort standardised);
	// NaN until that test has a reference. SpreadThreshold is the
	// threshold on |SZ| in force.
	SZ, SpreadThreshold float64
	// Anomaly: |AZ| > Threshold or Spread (never during the warm-up).
	// Spread: |SZ| crossed SpreadThreshold on this sample.
	Anomaly, Spread bool
	// Opened: this anomalous sample opened an episode. Closed: this
	// sample closed the open episode (the EpisodeGap-th normal sample after
	// its last anomalous one), which had Count anomalous samples and a peak
	// |AZ| of Peak.
	Opened, Closed bool
	Count          uint64
	Peak           float64
	// Drift: the detector alarmed on this sample (then it restarted, and
	// with DriftReset P was reset).
	Drift bool
	// Statistic is the detector's normalised statistic after the sample,
	// max(S⁺/H, S⁻/H, Sᵥ/HScale); it alarms above 1. On an alarm it is the
	// value that crossed (the statistics themselves restart at 0).
	Statistic float64
}

// ByError reports whether the error test flagged the sample (|AZ| above
// its threshold), as opposed to the spread test alone.
func (s *Score) ByError() bool { return s.Anomaly && abs(s.AZ) > s.Threshold }

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

// score applies the scoring part of an update to the model's state, in
// place, and sets its Score (LastScore): commit calls it once the update is
// certain, with prepare's figures in w (the a-priori error e and κ/λ =
// kol = 1/invKol = sqk² = 1/isqk²) for the sample with output y. It reads
// the state before the sample and reports whether a drift alarm resets P.
func (m *Model) score(w *work, y float64, sc *Scoring) (reset bool) {
	e, kol, invKol, sqk, isqk := w.e, w.kol, w.invKol, w.sqk, w.isqk
	sigma2, n2, detN := m.Sigma2, m.Sigma2N, m.Detector.N
	s := &m.next.score
	*s = Score{YHat: w.yhat, E: e, SD: predSD(sigma2, kol)}
	s.Z = e / s.SD // NaN when SD is

	// σ̂²: the mean of u = e²λ/κ, weighted 1/N (a running mean) until N
	// reaches 1/(1 − λ) and 1 − λ after (exponential forgetting with the
	// model's own λ); winsorised at Sigma2Clip²·σ̂² after the warm-up.
	u := e * e * invKol
	if !finite(u) {
		u = e * math.Sqrt(invKol)
		u = fmin(u*u, math.MaxFloat64)
	}
	cnt := n2 + 1
	warm := m.warmup()
	if n2 >= warm && sigma2 > 0 {
		u = fmin(u, Sigma2Clip*Sigma2Clip*sigma2) * invSigma2Winsor
	}
	// max(1/cnt, 1 − λ), without the division once 1 − λ is the larger.
	wt := 1 - m.Lambda
	if c := float64(int64(cnt)); c*wt < 1 {
		wt = 1 / c
	}
	s2 := sigma2 + wt*(u-sigma2)
	if cnt == 1 {
		s2 = u
	}
	// σ̂² is a float64 in the state: errors whose square underflows (a
	// sensor at 10⁻³⁰⁰) keep it at the smallest normal number instead of
	// 0 ("unknown"), once any error was not 0.
	if s2 < Sigma2Min && (e != 0 || sigma2 > 0) {
		s2 = Sigma2Min
	}
	s2 = fmin(s2, math.MaxFloat64)

	wa := &m.Watch
	s.AZ, s.Threshold = math.NaN(), wa.threshold(sc)
	if sd := wa.sigma() * sqk; sd > 0 {
		// Kept finite (the episode's peak is state): a scale that
		// underflowed gives the largest float instead of ±Inf.
		s.AZ = fmax(-math.MaxFloat64, fmin(math.MaxFloat64, e/sd))
	}
	// Anomalies are tested from the end of the model's first warm-up on;
	// a drift alarm restarts that warm-up only when it resets P (θ then
	// relearns), since otherwise nothing the test relies on changed.
	tested := n2 >= warm
	if sc.OnDrift == DriftReset {
		tested = detN >= warm
	}
	if tested && abs(s.AZ) > s.Threshold { // false for a NaN AZ
		s.Anomaly = true
	}
	r := abs(e) * isqk // the normalised error of both tests' scales
	if m.spreadNext(wa, s, r, tested, sc) {
		s.Spread, s.Anomaly = true, true
	}
	if s.Anomaly {
		m.Anomalies++
	}
	m.watchNext(wa, s, y, r, cnt, tested, sc)
	det := &m.Detector
	det.N++
	if detN >= warm && finite(s.Z) && !sc.DriftOff {
		c := &sc.Drift
		// The builtins, without a branch: which side wins is a coin toss.
		z := fmax(-c.Clip, fmin(c.Clip, s.Z))
		det.Pos = max(0, det.Pos+z-c.K)
		det.Neg = max(0, det.Neg-z-c.K)
		det.Scale = max(0, det.Scale+z*z-c.KScale)
		s.Statistic = max(max(det.Pos, det.Neg)*sc.invH, det.Scale*sc.invHScale)
		if s.Statistic > 1 {
			s.Drift = true
			m.Drifts++
			*det = Detector{}
		}
	}
	m.Sigma2, m.Sigma2N = s2, cnt
	return s.Drift && sc.OnDrift == DriftReset
}

// watchNext advances the anomaly state wa past the sample with output y,
// normalised error r = |e|/√(κ/λ) whose score s is (s.Anomaly set), the
// cnt-th of σ̂²: the episode, the fitted threshold (on tested samples) and
// the scale. The scale and level are kept finite: beyond the largest float
// they count as it.
func (m *Model) watchNext(wa *Watch, s *Score, y, r float64, cnt uint64, tested bool, sc *Scoring) {
	inEpisode := wa.Open > 0
	switch {
	case s.Anomaly && !inEpisode:
		s.Opened = true
		wa.Open, wa.Peak, wa.Quiet = 1, abs(s.AZ), 0
		wa.Episodes++
	case s.Anomaly:
		wa.Open++
		wa.Peak = fmax(wa.Peak, abs(s.AZ))
		wa.Quiet = 0
	case inEpisode && tested && wa.SpreadSide != 0:
		// The errors are still off their usual size: the episode holds.
		wa.Quiet = 0
	case inEpisode && tested:
		// A warm-up (after a drift alarm) is no evidence either way: the
		// episode waits for tested samples.
		wa.Quiet++
		if wa.Quiet >= EpisodeGap {
			s.Closed, s.Count, s.Peak = true, wa.Open, wa.Peak
			wa.Open, wa.Peak, wa.Quiet = 0, 0, 0
		}
	}

	// The fitted threshold: up when an episode opens, down on a normal
	// sample, nothing inside an episode (a burst is one false alarm).
	// Each test that opened the episode raised a false alarm if it was
	// one. An explicit threshold (AnomalyZ) replaces the error test's.
	if tested {
		t, u := wa.tail(), wa.spreadTail()
		switch {
		case s.Opened:
			// Larger first steps (Robbins–Monro): a heavy tail is found
			// in fewer false episodes.
			step := sc.stepUp
			if k := float64(wa.Episodes); k < EarlySteps {
				step *= math.Sqrt(EarlySteps / k)
			}
			if s.Spread {
				u *= math.Exp(step)
			}
			if s.ByError() {
				t *= math.Exp(step)
			}
		case !s.Anomaly:
			t *= 1 - sc.stepDn
			u *= 1 - sc.stepDn
		}
		if sc.AnomalyZ == 0 {
			wa.Tail = fmax(t, minTail)
		}
		wa.SpreadTail = fmax(u, minTail)
	}

	// The scale: a running mean, then exponentially weighted, winsorised
	// once tested (as σ̂²: a warm-up after a drift alarm lets it follow a new
	// spread at once); within an episode that lasts, faster and wider.
	// max(1/cnt, ScaleAlpha), dividing only while 1/cnt is the larger.
	lw := float64(ScaleAlpha)
	if c := float64(int64(cnt)); c*lw < 1 {
		lw = 1 / c
	}
	wt, clip := lw, float64(ScaleClip)
	if wa.Open >= EpisodeFast {
		wt, clip = fmax(lw, EpisodeAlpha), EpisodeClip
	}
	ref := fmax(wa.Scale, FloorRel*wa.Level)
	if tested && ref > 0 {
		r = fmin(r, clip*ref)
	}
	wa.Scale = fmin(wa.Scale+wt*(fmin(r, math.MaxFloat64)-wa.Scale), math.MaxFloat64)
	wa.Level = fmin(wa.Level+lw*(fmin(abs(y), math.MaxFloat64)-wa.Level), math.MaxFloat64)
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

// lnNormal returns ln x for a finite normal x > 0, to within about
// 2·10⁻¹³, the series' next term (math.Log costs as much as a third of an update at n = 10): with
// x = m·2ᵉ, m in [1, 2), and c the centre of m's 128th of [1, 2), ln x =
// e·ln 2 + ln c + ln(1 + u) with u = m/c − 1, |u| ≤ 1/257, by its series
// to u⁴. 1/c and ln c come from a table: no division, no branch.
func lnNormal(x float64) float64 {
	bits := math.Float64bits(x)
	t := &lnTable[bits>>45&(lnCells-1)]
	u := math.Float64frombits(bits&(1<<52-1)|1023<<52)*t.inv - 1
	u2 := u * u
	return (float64(int64(bits>>52)-1023)*math.Ln2 + t.ln) + ((u - u2*0.5) + u2*(u*(1.0/3)-u2*0.25))
}

// lnCells is the number of cells of [1, 2) in lnTable.
const lnCells = 128

// lnTable holds 1/c and ln c for the centre c of each cell of lnNormal.
var lnTable = func() (t [lnCells]struct{ inv, ln float64 }) {
	for k := range t {
		c := 1 + (float64(k)+0.5)/lnCells
		t[k].inv, t[k].ln = 1/c, math.Log(c)
	}
	return t
}()
