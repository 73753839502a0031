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
	// ErrNumeric: the update is numerically unsafe: κ = λ + xᵀPx is not a
	// finite number > 0, θ, P or the error figures would not be finite, or
	// a diagonal entry of P would not be > 0.
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
// computes into scratch buffers taken from a pool shared by all models and
// commits by copying them into Theta and P, so references to m.Theta or
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

	w    *work   // scratch between prepare and commit (or release); nil otherwise
	next pending // scalar results of prepare
}

// work is scratch for one update: the next θ and P are computed into it
// and copied in on commit.
type work struct {
	pi    []float64 // π = P x, len n
	theta []float64 // next θ, len n
	p     []float64 // next P, len n*n
}

// pending holds the scalar results of the last successful prepare, which
// commit makes the model's state; they stay with the model (not the
// pooled scratch), and score stays readable after commit (LastScore).
type pending struct {
	e, mse, recent float64
	sigma2         float64
	det            Detector
	watch          Watch
	anomalies      uint64
	drifts         uint64
	reset          bool
	score          Score
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
var workPools sync.Map // int → *sync.Pool

func workPool(n int) *sync.Pool {
	if p, ok := workPools.Load(n); ok {
		return p.(*sync.Pool)
	}
	p, _ := workPools.LoadOrStore(n, &sync.Pool{})
	return p.(*sync.Pool)
}

// acquire gives m scratch for dimension Dim: pooled scratch of that
// dimension if there is some, else new.
func (m *Model) acquire() *work {
	n := m.Dim
	w, _ := workPool(n).Get().(*work)
	if w == nil {
		w = &work{pi: make([]float64, n), theta: make([]float64, n), p: make([]float64, n*n)}
	}
	m.w = w
	return w
}

// release returns m's scratch to the pool (after commit, it holds m's
// previous θ and P, which nothing references any more).
func (m *Model) release() {
	if m.w != nil {
		workPool(m.Dim).Put(m.w)
		m.w = nil
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
	var buf Scoring
	r := sc.resolve(&buf)
	if err := m.prepare(x, y, r); err != nil {
		m.release()
		return math.NaN(), err
	}
	e = m.next.e
	m.commit()
	return e, nil
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

// prepare computes the update for (x, y) into scratch buffers without
// changing any exported field. commit then makes it the model's state;
// release drops it (it may be called after prepare failed, too).
func (m *Model) prepare(x []float64, y float64, sc *Scoring) error {
	n := m.Dim
	if len(x) != n {
		return ErrDim
	}
	if len(m.Theta) != n || len(m.P) != n*n || !(m.Lambda > 0 && m.Lambda <= 1) || !(m.Delta > 0) {
		return ErrState
	}
	w := m.acquire()

	// π = P x, κ = λ + xᵀπ, e = y − xᵀθ.
	fast := useAVX2 && n >= 4 // the assembly kernels; see kernel.go
	if fast {
		pvecAVX2(n, &m.P[0], &x[0], &w.pi[0])
	} else {
		pvecGo(n, m.P, x, w.pi)
	}
	xpi, xtheta := dot2(x, w.pi, m.Theta)
	kappa := m.Lambda + xpi
	e := y - xtheta
	// If x or y is not finite, e is not finite either (θ is finite), so
	// this one test also catches bad input; diagnose only on failure.
	if !(kappa > 0 && kappa <= math.MaxFloat64) || !finite(e) {
		if !finite(y) || !allFinite(x) {
			return ErrNonFinite
		}
		return ErrNumeric
	}

	// P' = (P − k πᵀ)/λ = P/λ − ππᵀ/(κλ): every entry from P[i][j] and
	// the commutative product π[i]·π[j], so P' is exactly symmetric when P
	// is (see pupdate).
	invLambda := 1 / m.Lambda
	var pchk float64
	if fast {
		pchk = pupdateAVX2(n, &m.P[0], &w.pi[0], &w.p[0], invLambda, invLambda/kappa)
	} else {
		pchk = pupdateGo(n, m.P, w.pi, w.p, invLambda, invLambda/kappa)
	}
	if !finite(pchk) {
		return ErrNumeric
	}

	// θ' = θ + k e with k = π/κ.
	g := m.boundedError(e, kappa/m.Lambda, sc) / kappa
	theta, pi, next := m.Theta[:n], w.pi[:n], w.theta[:n]
	var chk float64
	for i, t := range theta {
		v := t + pi[i]*g
		next[i] = v
		chk += v
	}
	if !finite(chk) {
		return ErrNumeric
	}

	// trace(P'), and every diagonal entry must stay > 0: cancellation in
	// P/λ − ππᵀ/(κλ) (a sample far larger than what P expects) could
	// otherwise leave P singular or indefinite.
	var trace float64
	minDiag := math.Inf(1)
	for i := 0; i < n; i++ {
		d := w.p[i*n+i]
		trace += d
		minDiag = min(minDiag, d)
	}
	if !finite(trace) || !(minDiag > 0) {
		return ErrNumeric
	}
	if limit := m.TraceCap(); trace > limit {
		capTrace(n, w.p, trace, limit)
	}

	// Error figures.
	e2 := e * e
	cnt := float64(m.Samples + 1)
	mse := m.MSE + (e2-m.MSE)/cnt
	recent := e2
	if m.Samples > 0 {
		recent = m.RecentMSE + RecentAlpha*(e2-m.RecentMSE)
	}
	if !finite(mse) || !finite(recent) {
		return ErrNumeric
	}
	if !m.scoreNext(xtheta, y, e, kappa/m.Lambda, sc) {
		return ErrNumeric
	}
	m.next.e, m.next.mse, m.next.recent = e, mse, recent
	return nil
}

// commit makes the last successful prepare the model's state and releases
// the scratch. It copies the new θ and P into the model's own arrays rather
// than swapping slices with the scratch: a copy from the cache is cheaper
// than scattering a key's state over the heap (see NewModels).
func (m *Model) commit() {
	w := m.w
	copy(m.Theta, w.theta)
	copy(m.P, w.p)
	m.Samples++
	m.MSE = m.next.mse
	m.RecentMSE = m.next.recent
	m.commitScore()
	m.release()
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
