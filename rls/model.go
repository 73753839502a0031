package rls

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// RecentAlpha is the weight of the newest squared a-priori error in
// Model.RecentMSE: RecentMSE ← RecentMSE + RecentAlpha·(e² − RecentMSE), an
// exponentially weighted mean over roughly the last 1/RecentAlpha = 100
// samples. The first sample sets RecentMSE = e².
const RecentAlpha = 0.01

// DefaultTraceFactor sets the default covariance windup cap: a model whose
// MaxTrace is 0 caps trace(P) at DefaultTraceFactor·trace(P₀) =
// DefaultTraceFactor·Delta·Dim (see "Covariance windup cap" in the package
// documentation).
const DefaultTraceFactor = 1e4

// Errors returned by Update. A rejected sample leaves the model exactly as
// it was, bit for bit.
var (
	// ErrDim: len(x) differs from the model's dimension.
	ErrDim = errors.New("rls: sample dimension does not match the model")
	// ErrNonFinite: x or y contains NaN or ±Inf.
	ErrNonFinite = errors.New("rls: sample is not finite (NaN or Inf in x or y)")
	// ErrNumeric: the update cannot be represented: the new θ (or P, with
	// the windup cap off) would not be finite, or P's diagonal is not
	// positive.
	ErrNumeric = errors.New("rls: sample rejected: the update would make the model non-finite or P not positive definite")
	// ErrState: the model itself is malformed (slice lengths that do not
	// match Dim, a forgetting factor outside (0, 1], Delta not > 0); see
	// Model.Check.
	ErrState = errors.New("rls: malformed model state")
)

// Model is one exponentially weighted recursive-least-squares estimator and
// its full state; every exported field is persisted by the state codec. The
// update, its exact symmetry, the numerical guards and the covariance windup
// cap are described in the package documentation.
//
// A Model may be built as a struct literal (e.g. by a decoder). Update
// writes the new θ and P into Theta and P, so references to m.Theta or
// m.P see every update: copy them, or use Clone, to keep a value. A model
// holds no scratch between updates, so a process that keeps many models in
// memory keeps only their state. P must be exactly symmetric, as NewModel
// makes it and Update keeps it (Check verifies it). A Model is not
// safe for concurrent use.
type Model struct {
	Spec
	Dim       int       // n, the length of x
	Theta     []float64 // θ, len n
	P         []float64 // n*n row-major, exactly symmetric (P[i*n+j] == P[j*n+i] bit for bit)
	Samples   uint64    // samples applied
	MSE       float64   // running mean of squared a-priori errors over all applied samples
	RecentMSE float64   // exponentially weighted mean of squared a-priori errors (weight RecentAlpha on the newest)
	MaxTrace  float64   // windup cap on trace(P); 0 (or negative) = DefaultTraceFactor·Delta·Dim; +Inf = no cap

	// Scoring state (see Scoring and docs/design.md, "Uncertainty,
	// anomalies and drift").
	Sigma2    float64  // σ̂², the estimate of the noise variance σ²; 0 = unknown
	Sigma2N   uint64   // samples that went into Sigma2
	Detector  Detector // the change detector
	Anomalies uint64   // samples with |AZ| above the anomaly threshold
	Drifts    uint64   // detector alarms
	Watch     Watch    // the anomaly test: robust scale, fitted threshold, open episode

	next pending // the last score, and the slow path's scratch
	// invLam, rootLam and invRootLam are 1/λ, √λ and 1/√λ for λ = lamOf,
	// computed when λ changes (fewer divisions and roots per update).
	lamOf, invLam, rootLam, invRootLam float64
}

// work is scratch for one update: π, the fast path's scalars, and the
// figures that commit scores the sample with.
type work struct {
	pi               []float64 // π = P x, len n
	invLambda, s, xk float64   // 1/λ, 1/√(κλ) and xᵀP'x = xᵀπ/κ
	g                float64   // e/κ: θ' = θ + π·g
	yhat, e          float64   // xᵀθ and the a-priori error
	mse, recent      float64   // the new MSE and RecentMSE
	kol, invKol      float64   // κ/λ and λ/κ
	sqk, isqk        float64   // √(κ/λ) and √(λ/κ)
}

// pending is what stays with the model between prepare and commit and
// after: the slow path's scratch, and the score (LastScore).
type pending struct {
	score Score
	slow  *rwork // the slow path's scratch (with the next θ and P), or nil
}

// NewModel returns a model of dimension dim with θ = 0 and P = Delta·I. The
// spec should be valid (Spec.Validate). It panics if dim < 0.
func NewModel(spec Spec, dim int) *Model { return NewModels([]Spec{spec}, dim)[0] }

// NewModels returns a fresh model (θ = 0, P = Delta·I) of dimension dim
// per spec, laid out together: the Model values in one array, and every
// θ and P in one []float64, each θ followed by its P. An update reads all
// of a key's models, and with many keys their state is not in the CPU's
// caches: one contiguous block costs the update fewer memory stalls than
// scattered pieces (docs/performance.md#processing-many-sensors-p).
// Updates keep the layout: they write the new θ and P into these arrays.
// It panics if dim < 0.
func NewModels(specs []Spec, dim int) []*Model {
	if dim < 0 {
		panic(fmt.Sprintf("rls: NewModels: negative dimension %d", dim))
	}
	vals := make([]Model, len(specs))
	ms := make([]*Model, len(specs))
	stride := dim + dim*dim
	arrays := make([]float64, len(specs)*stride)
	for i, s := range specs {
		a := arrays[i*stride : (i+1)*stride : (i+1)*stride]
		m := &vals[i]
		m.Spec, m.Dim = s, dim
		m.Theta, m.P = a[:dim:dim], a[dim:]
		for j := 0; j < dim; j++ {
			m.P[j*dim+j] = s.Delta
		}
		ms[i] = m
	}
	return ms
}

// workPools hold the scratch of updates between them, one sync.Pool per
// dimension: per-P caches, so the partitions' goroutines updating at once do
// not contend for a lock. Once warm an update allocates nothing; the garbage
// collector (and the race detector, at random) may empty a pool, and the
// next update allocates its scratch again.
var workPools sizedPools

// sizedPools is one sync.Pool per dimension, the small ones in an array
// (no map lookup on the common path).
type sizedPools struct {
	large sync.Map // int → *sync.Pool, for n ≥ len(small)
	small [65]sync.Pool
}

func (sp *sizedPools) get(n int) *sync.Pool {
	if n < len(sp.small) {
		return &sp.small[n]
	}
	if p, ok := sp.large.Load(n); ok {
		return p.(*sync.Pool)
	}
	p, _ := sp.large.LoadOrStore(n, &sync.Pool{})
	return p.(*sync.Pool)
}

// stackFloats bounds the scratch (π) that Model.Update and Bank.Update keep
// on the goroutine's stack; larger updates take pooled scratch.
const stackFloats = 32

// getWork returns pooled scratch for dimension n, or new scratch.
func getWork(n int) *work {
	w, _ := workPools.get(n).Get().(*work)
	if w == nil {
		w = &work{pi: make([]float64, n)}
	}
	return w
}

// dropSlow returns the slow path's scratch, if the last prepare took it.
func (m *Model) dropSlow() {
	if r := m.next.slow; r != nil {
		putRwork(m.Dim, r)
		m.next.slow = nil
	}
}

// TraceCap returns the cap on trace(P) in force: MaxTrace if it is > 0,
// otherwise DefaultTraceFactor·Delta·Dim.
func (m *Model) TraceCap() float64 {
	if m.MaxTrace > 0 {
		return m.MaxTrace
	}
	return DefaultTraceFactor * m.Delta * float64(m.Dim)
}

// Update applies one sample and returns its a-priori error e = y − xᵀθ
// (θ before the update). It also scores the sample with DefaultScoring
// (whose drift action is none, so θ and P are those of the plain update);
// LastScore returns the score. It does not allocate (after the first call
// on a model built without NewModel). On error (ErrDim, ErrNonFinite,
// ErrNumeric, ErrState) the model is unchanged and e is NaN.
func (m *Model) Update(x []float64, y float64) (e float64, err error) {
	return m.UpdateScored(x, y, nil)
}

// UpdateScored is Update with the scoring configuration sc (nil: the
// defaults). With sc.OnDrift = DriftReset a detector alarm resets P after
// the update (ResetCovariance).
func (m *Model) UpdateScored(x []float64, y float64, sc *Scoring) (e float64, err error) {
	r := &defaultScoring
	if sc != nil {
		var buf Scoring
		r = sc.resolve(&buf)
	}
	n := m.Dim
	var sw work
	var pw *work
	// Go zeroes a stack array where it is declared: a small model zeroes
	// a smaller one.
	switch {
	case n < 0:
		// prepare rejects the model before it uses the scratch.
	case n <= stackFloats/2:
		var stack [stackFloats / 2]float64
		sw.pi = stack[:n:n]
	case n <= stackFloats:
		var stack [stackFloats]float64
		sw.pi = stack[:n:n]
	default:
		pw = getWork(n)
		sw.pi = pw.pi
	}
	w := &sw
	err = m.prepare(x, y, r, w)
	if err == nil {
		e = w.e
		m.commit(x, y, w, r)
	} else {
		e = math.NaN()
	}
	m.dropSlow()
	if pw != nil {
		workPools.get(n).Put(pw)
	}
	return e, err
}

// Predict returns xᵀθ. It panics if len(x) != Dim.
func (m *Model) Predict(x []float64) float64 {
	if len(x) != m.Dim || len(m.Theta) != m.Dim {
		panic(fmt.Sprintf("rls: Predict: len(x) = %d, model %q has dimension %d", len(x), m.Name, m.Dim))
	}
	return dot(x, m.Theta)
}

// PTrace returns trace(P), summed in index order.
func (m *Model) PTrace() float64 {
	n := m.Dim
	var t float64
	for i := 0; i < n && i*n+i < len(m.P); i++ {
		t += m.P[i*n+i]
	}
	return t
}

// Clone returns a deep copy of m (without its scratch buffers).
func (m *Model) Clone() *Model {
	c := &Model{
		Spec:      m.Spec,
		Dim:       m.Dim,
		Theta:     append([]float64(nil), m.Theta...),
		P:         append([]float64(nil), m.P...),
		Samples:   m.Samples,
		MSE:       m.MSE,
		RecentMSE: m.RecentMSE,
		MaxTrace:  m.MaxTrace,
		Sigma2:    m.Sigma2,
		Sigma2N:   m.Sigma2N,
		Detector:  m.Detector,
		Anomalies: m.Anomalies,
		Drifts:    m.Drifts,
		Watch:     m.Watch,
	}
	return c
}

// Check reports whether m is a well-formed model: a valid spec, Dim ≥ 0,
// len(Theta) = Dim, len(P) = Dim², θ, P, MSE, RecentMSE, Sigma2 and the
// detector statistics finite, MSE, RecentMSE, Sigma2 and the statistics ≥ 0, P exactly symmetric with a positive diagonal, and MaxTrace
// not NaN. Decoders can use it on untrusted input.
func (m *Model) Check() error {
	if err := m.Spec.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	n := m.Dim
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: model %q: %s", ErrState, m.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case n < 0:
		return bad("negative dimension %d", n)
	case len(m.Theta) != n:
		return bad("len(theta) = %d, want %d", len(m.Theta), n)
	case len(m.P) != n*n:
		return bad("len(P) = %d, want %d", len(m.P), n*n)
	case math.IsNaN(m.MaxTrace):
		return bad("max trace is NaN")
	case !finite(m.MSE) || m.MSE < 0:
		return bad("mse %v is not a finite number ≥ 0", m.MSE)
	case !finite(m.RecentMSE) || m.RecentMSE < 0:
		return bad("recent mse %v is not a finite number ≥ 0", m.RecentMSE)
	case !finite(m.Sigma2) || m.Sigma2 < 0:
		return bad("sigma2 %v is not a finite number ≥ 0", m.Sigma2)
	case !finite(m.Detector.Pos) || m.Detector.Pos < 0 || !finite(m.Detector.Neg) || m.Detector.Neg < 0 ||
		!finite(m.Detector.Scale) || m.Detector.Scale < 0:
		return bad("detector statistics %v, %v, %v are not finite numbers ≥ 0", m.Detector.Pos, m.Detector.Neg, m.Detector.Scale)
	}
	if err := m.Watch.check(); err != nil {
		return bad("%v", err)
	}
	for i, v := range m.Theta {
		if !finite(v) {
			return bad("theta[%d] = %v", i, v)
		}
	}
	for i := 0; i < n; i++ {
		if d := m.P[i*n+i]; !(d > 0 && d <= math.MaxFloat64) {
			return bad("P[%d][%d] = %v is not a finite number > 0", i, i, d)
		}
		for j := i + 1; j < n; j++ {
			a, b := m.P[i*n+j], m.P[j*n+i]
			if !finite(a) {
				return bad("P[%d][%d] = %v", i, j, a)
			}
			if math.Float64bits(a) != math.Float64bits(b) {
				return bad("P is not symmetric: P[%d][%d] = %v, P[%d][%d] = %v", i, j, a, j, i, b)
			}
		}
	}
	return nil
}

func finite(v float64) bool { return v-v == 0 }

// prepare computes the update for (x, y) into the scratch w (of dimension
// Dim) and m.next without changing any exported field: everything that can
// fail is decided here. commit then makes it the model's state. On the fast path the new P is computed by commit, in place: every
// entry of P' depends only on the same entry of P and on π, and prepare has
// made sure that P' will be finite and positive definite.
func (m *Model) prepare(x []float64, y float64, sc *Scoring, w *work) error {
	n := m.Dim
	if len(x) != n {
		return ErrDim
	}
	if len(m.Theta) != n || len(m.P) != n*n || !(m.Lambda > 0 && m.Lambda <= 1) || !(m.Delta > 0) {
		return ErrState
	}

	// π = P x, κ = λ + xᵀπ, e = y − xᵀθ.
	var xpi, xtheta, api, atheta float64
	if useAVX2 && n >= 4 { // the assembly kernels; see kernel.go
		xpi, xtheta, api, atheta = pvecAVX2(n, &m.P[0], &x[0], &m.Theta[0], &w.pi[0])
	} else {
		pvecGo(n, m.P, x, w.pi)
		xpi, xtheta = dot2(x, w.pi, m.Theta)
		api, atheta = abs2(w.pi, m.Theta)
	}
	lam := m.Lambda
	kappa := lam + xpi
	e := y - xtheta
	// The fast path needs λ ≤ κ ≤ fastShrink·λ (see robust.go) and P/λ
	// finite, which the windup cap ensures unless it is off or huge. If x
	// or y is not finite, e is not finite either (θ is finite), so this
	// one test also catches bad input; diagnose only on failure.
	var kol, invKol, sqk, isqk float64 // κ/λ, λ/κ, √(κ/λ) and √(λ/κ)
	if !(kappa >= lam && kappa <= fastShrink*lam) || !finite(e) ||
		!(m.TraceCap() <= maxSafeTrace*lam) && !m.diagBelow(maxSafeTrace*lam) {
		if !finite(y) || !allFinite(x) {
			return ErrNonFinite
		}
		var err error
		if e, kol, invKol, err = m.prepareSlow(x, y, sc); err != nil {
			return err
		}
		xtheta = y - e
		sqk = math.Sqrt(kol)
		isqk = 1 / sqk
	} else {
		// 1/κ and √κ side by side, then 1/√κ = √κ/κ: a shorter chain
		// from κ to the new P than a root after the division.
		invK, rootK := 1/kappa, math.Sqrt(kappa)
		if m.lamOf != lam {
			m.lamOf, m.invLam, m.rootLam = lam, 1/lam, math.Sqrt(lam)
			m.invRootLam = 1 / m.rootLam
		}
		invLambda := m.invLam
		irk := invK * rootK
		kol, invKol = kappa*invLambda, lam*invK
		isqk = irk * m.rootLam
		sqk = kol * isqk
		// θ' = θ + k e with k = π/κ (e bounded with Scoring.Robust),
		// computed by commit. Each |θ[i] + π[i]·g| is at most
		// Σ|θ| + |g|·Σ|π|: when that is finite, so is θ'.
		g := m.boundedError(e, sqk, sc) * invK
		if !finite(atheta+abs(g)*api) && !finite(stepSum(m.Theta, w.pi, g)) {
			return ErrNumeric
		}
		w.invLambda, w.s, w.xk, w.g = invLambda, irk*m.invRootLam, xpi*invK, g
	}

	// Error figures; squares beyond the largest float are counted as it.
	e2 := fmin(e*e, math.MaxFloat64)
	cnt := float64(int64(m.Samples + 1)) // counts stay below 2⁶³
	mse := fmin(m.MSE+(e2-m.MSE)/cnt, math.MaxFloat64)
	recent := e2
	if m.Samples > 0 {
		recent = fmin(m.RecentMSE+RecentAlpha*(e2-m.RecentMSE), math.MaxFloat64)
	}
	w.yhat, w.e, w.kol, w.invKol, w.sqk, w.isqk = xtheta, e, kol, invKol, sqk, isqk
	w.mse, w.recent = mse, recent
	return nil
}

// maxSafeTrace bounds trace(P)/λ on the fast path, so that no entry of
// P/λ − ππᵀ/(κλ) overflows (|P_ij| ≤ √(P_ii·P_jj) and ππᵀ/κ ≤ P).
const maxSafeTrace = math.MaxFloat64 / 4

// diagBelow reports whether every diagonal entry of P is below limit.
func (m *Model) diagBelow(limit float64) bool {
	n := m.Dim
	var t float64
	for i := 0; i < n; i++ {
		t += m.P[i*n+i]
	}
	return t < limit
}

// commit makes the last successful prepare of (x, y), with scratch w, the
// model's state and scores the sample with sc. The fast path updates P in
// place, then applies the windup cap and, for a step that makes P nearly
// singular along x (and every pdEvery samples), checkPD.
func (m *Model) commit(x []float64, y float64, w *work, sc *Scoring) {
	n := m.Dim
	if m.next.slow != nil {
		copy(m.Theta, m.next.slow.theta)
		copy(m.P, m.next.slow.p)
	} else if n > 0 {
		// θ' = θ + π·g and P' in place.
		var trace, sx float64
		if useAVX2 && n >= 4 {
			trace, sx = pupdateAVX2(n, &m.P[0], &w.pi[0], &x[0], &m.Theta[0], w.invLambda, w.s, w.g)
		} else {
			trace, sx = pupdateGo(n, m.P, w.pi, x, m.Theta, w.invLambda, w.s, w.g)
		}
		// A step that leaves P' nearly singular along x (xᵀP'x small
		// against Σ x_i²·P'_ii: the equilibrated P' has a small
		// eigenvalue), and every pdEvery samples, checks P'.
		if w.xk < pdSuspect*sx || m.Samples%pdEvery == pdEvery-1 {
			r := getRwork(n)
			if checkPD(n, m.P, r) {
				trace = m.PTrace()
			}
			putRwork(n, r)
		}
		if limit := m.TraceCap(); trace > limit {
			capTrace(n, m.P, trace, limit)
		}
	}
	m.Samples++
	m.MSE = w.mse
	m.RecentMSE = w.recent
	if m.score(w, y, sc) {
		m.ResetCovariance()
	}
}

// capTrace scales the n×n matrix p by a factor s ≤ limit/trace, chosen so
// that its diagonal, summed in index order (as PTrace does), is ≤ limit.
// Every entry is multiplied by the same s, so symmetry is kept exactly.
func capTrace(n int, p []float64, trace, limit float64) {
	s := limit / trace
	for step := 1.0; ; step *= 2 {
		var t float64
		for i := 0; i < n; i++ {
			t += p[i*n+i] * s
		}
		if t <= limit {
			break
		}
		s -= step * s * 0x1p-52
	}
	p = p[:n*n]
	for i := range p {
		p[i] *= s
	}
}

func allFinite(x []float64) bool {
	for _, v := range x {
		if !finite(v) {
			return false
		}
	}
	return true
}
