package rls

import (
	"errors"
	"fmt"
	"math"
)

// RecentAlpha is the weight of the newest squared a-priori error in
// Model.RecentMSE: RecentMSE ← RecentMSE + RecentAlpha·(e² − RecentMSE), an
// exponentially weighted mean over roughly the last 1/RecentAlpha = 100
// samples. The first sample sets RecentMSE = e².
const RecentAlpha = 0.01

// DefaultTraceFactor sets the default covariance windup cap: a model whose
// MaxTrace is 0 caps trace(P) at DefaultTraceFactor·trace(P₀) =
// DefaultTraceFactor·Delta·Dim. See Model.
const DefaultTraceFactor = 1e4

// Errors returned by Update. A rejected sample leaves the model exactly as
// it was, bit for bit.
var (
	// ErrDim: len(x) differs from the model's dimension.
	ErrDim = errors.New("rls: sample dimension does not match the model")
	// ErrNonFinite: x or y contains NaN or ±Inf.
	ErrNonFinite = errors.New("rls: sample is not finite (NaN or Inf in x or y)")
	// ErrNumeric: the update is numerically impossible: κ = λ + xᵀPx is not
	// a finite positive number, or θ, P or the error figures would become
	// non-finite.
	ErrNumeric = errors.New("rls: update would make the model non-finite (sample rejected)")
	// ErrState: the model itself is malformed (slice lengths that do not
	// match Dim, or a forgetting factor outside (0, 1]); see Model.Check.
	ErrState = errors.New("rls: malformed model state")
)

// Model is one exponentially weighted recursive-least-squares estimator
// (Haykin, Adaptive Filter Theory, RLS table) and its full state; every
// exported field is persisted by the state codec. For each sample (x, y):
//
//	π = P x
//	κ = λ + xᵀπ
//	k = π / κ
//	e = y − xᵀθ            (a-priori error, returned and fed to MSE, RecentMSE)
//	θ ← θ + k e
//	P ← (P − k πᵀ) / λ      (computed on the upper triangle and mirrored)
//
// starting from θ₀ = 0, P₀ = Delta·I. After samples 1..N, as long as the
// windup cap below never engaged, θ and P equal the regularised weighted
// least-squares solution
//
//	R_N = λᴺ P₀⁻¹ + Σᵢ λᴺ⁻ⁱ xᵢ xᵢᵀ,   P_N = R_N⁻¹,   θ_N = R_N⁻¹ Σᵢ λᴺ⁻ⁱ xᵢ yᵢ.
//
// P is kept exactly symmetric: only the upper triangle is computed and the
// lower one is a bitwise copy of it, so P[i*n+j] == P[j*n+i] always.
//
// Numerical guards: a sample is rejected (an error is returned and the model
// is left unchanged bit for bit) when len(x) ≠ Dim, x or y is not finite,
// κ is not a finite number > 0, or the new θ, P, MSE or RecentMSE would not
// be finite. The update is computed into private scratch buffers and only
// committed when all of it is finite.
//
// Covariance windup cap. With λ < 1, directions of the parameter space that
// the samples do not excite are forgotten without being re-learned: their part
// of P grows like λ⁻ᵗ (with x = 0 and λ = 0.99, P overflows after about 70 000
// samples). The model therefore caps trace(P): when the trace of the updated
// P exceeds the cap, the whole updated P is multiplied by cap/trace(P) (nudged
// down by an ulp or so if rounding would leave the trace above the cap), so
// that trace(P) ≤ cap after every update. A positive scalar factor keeps P
// exactly symmetric and positive definite and leaves the ratios between its
// entries, i.e. the shape of the uncertainty, as they are; it is equivalent to
// multiplying the information matrix R = P⁻¹ by trace/cap ≥ 1, i.e. to
// forgetting less in that step. With no excitation at all it freezes P at
// trace = cap (forgetting stops) instead of letting it diverge. The cap is
// MaxTrace when MaxTrace > 0 (math.Inf(1) disables it) and otherwise
// DefaultTraceFactor·Delta·Dim = 10⁴·trace(P₀): the covariance may grow to ten
// thousand times the prior one, which a well-excited model never comes close
// to (with λ = 1, P only shrinks: trace(P) ≤ trace(P₀) always, so the cap
// never engages). While the cap has never engaged, the closed form above holds
// exactly; once it has, θ and P deviate from it.
//
// A Model may be built as a struct literal (e.g. by a decoder): its scratch
// buffers are allocated on the first Update. Update may swap the backing
// arrays of Theta and P with those scratch buffers (double buffering, to
// commit without copying), so do not keep references to m.Theta or m.P
// across calls to Update; copy them, or use Clone. A Model is not safe for
// concurrent use.
type Model struct {
	Spec
	Dim       int       // n, the length of x
	Theta     []float64 // θ, len n
	P         []float64 // n*n row-major, exactly symmetric (P[i*n+j] == P[j*n+i] bit for bit)
	Samples   uint64    // samples applied
	MSE       float64   // running mean of squared a-priori errors over all applied samples
	RecentMSE float64   // exponentially weighted mean of squared a-priori errors (weight RecentAlpha on the newest)
	MaxTrace  float64   // windup cap on trace(P); 0 (or negative) = DefaultTraceFactor·Delta·Dim; +Inf = no cap

	w work // scratch; not persisted
}

// work is a model's private scratch: the next θ and P are computed into it
// and swapped in on commit.
type work struct {
	pi    []float64 // π = P x, len n
	tmp   []float64 // scratch for pvec, len n
	theta []float64 // next θ, len n
	p     []float64 // next P, len n*n

	// Results of the last successful prepare, committed by commit.
	e, mse, recent float64
}

// NewModel returns a model of dimension dim with θ = 0 and P = Delta·I. The
// spec should be valid (Spec.Validate). It panics if dim < 0.
func NewModel(spec Spec, dim int) *Model {
	if dim < 0 {
		panic(fmt.Sprintf("rls: NewModel: negative dimension %d", dim))
	}
	m := &Model{
		Spec:  spec,
		Dim:   dim,
		Theta: make([]float64, dim),
		P:     make([]float64, dim*dim),
	}
	for i := 0; i < dim; i++ {
		m.P[i*dim+i] = spec.Delta
	}
	m.ensureWork()
	return m
}

// ensureWork (re)allocates the scratch buffers if they do not fit Dim.
func (m *Model) ensureWork() {
	n := m.Dim
	if len(m.w.pi) != n || len(m.w.theta) != n || len(m.w.p) != n*n || len(m.w.tmp) != n {
		m.w.pi = make([]float64, n)
		m.w.tmp = make([]float64, n)
		m.w.theta = make([]float64, n)
		m.w.p = make([]float64, n*n)
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
// (θ before the update). It does not allocate (after the first call on a
// model built without NewModel). On error (ErrDim, ErrNonFinite,
// ErrNumeric, ErrState) the model is unchanged and e is NaN.
func (m *Model) Update(x []float64, y float64) (e float64, err error) {
	if err := m.prepare(x, y); err != nil {
		return math.NaN(), err
	}
	m.commit()
	return m.w.e, nil
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
	}
	return c
}

// Check reports whether m is a well-formed model: a valid spec, Dim ≥ 0,
// len(Theta) = Dim, len(P) = Dim², θ, P, MSE and RecentMSE finite, MSE and
// RecentMSE ≥ 0, P exactly symmetric with a positive diagonal, and MaxTrace
// not NaN. Decoders can use it on untrusted input.
func (m *Model) Check() error {
	if err := m.Spec.Validate(); err != nil {
		return err
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

// prepare computes the update for (x, y) into m's scratch buffers without
// changing any exported field. commit then makes it the model's state.
func (m *Model) prepare(x []float64, y float64) error {
	n := m.Dim
	if len(x) != n {
		return ErrDim
	}
	if len(m.Theta) != n || len(m.P) != n*n || !(m.Lambda > 0 && m.Lambda <= 1) {
		return ErrState
	}
	if len(m.w.p) != n*n || len(m.w.pi) != n || len(m.w.theta) != n || len(m.w.tmp) != n {
		m.ensureWork()
	}
	w := &m.w

	// π = P x, κ = λ + xᵀπ, e = y − xᵀθ.
	pvec(n, m.P, x, w.pi, w.tmp)
	kappa := m.Lambda + dot(x, w.pi)
	e := y - dot(x, m.Theta)
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
	if !finite(pupdate(n, m.P, w.pi, w.p, invLambda, invLambda/kappa)) {
		return ErrNumeric
	}

	// θ' = θ + k e with k = π/κ.
	g := e / kappa
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

	var trace float64
	for i := 0; i < n; i++ {
		trace += w.p[i*n+i]
	}
	if !finite(trace) {
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
	w.e, w.mse, w.recent = e, mse, recent
	return nil
}

// commit makes the last successful prepare the model's state.
func (m *Model) commit() {
	w := &m.w
	m.Theta, w.theta = w.theta, m.Theta
	m.P, w.p = w.p, m.P
	m.Samples++
	m.MSE = w.mse
	m.RecentMSE = w.recent
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
