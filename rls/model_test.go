package rls

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// sameBits reports whether two models hold bit-for-bit identical state.
func sameBits(a, b *Model) bool {
	eq := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	if a.Spec.Name != b.Spec.Name || !eq(a.Lambda, b.Lambda) || !eq(a.Delta, b.Delta) ||
		a.Dim != b.Dim || a.Samples != b.Samples || !eq(a.MSE, b.MSE) ||
		!eq(a.RecentMSE, b.RecentMSE) || !eq(a.MaxTrace, b.MaxTrace) ||
		len(a.Theta) != len(b.Theta) || len(a.P) != len(b.P) {
		return false
	}
	for i := range a.Theta {
		if !eq(a.Theta[i], b.Theta[i]) {
			return false
		}
	}
	for i := range a.P {
		if !eq(a.P[i], b.P[i]) {
			return false
		}
	}
	return true
}

func exactlySymmetric(n int, P []float64) bool {
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if math.Float64bits(P[i*n+j]) != math.Float64bits(P[j*n+i]) {
				return false
			}
		}
	}
	return true
}

func TestNewModel(t *testing.T) {
	m := NewModel(Spec{"m", 0.99, 2.5}, 3)
	if m.Dim != 3 || len(m.Theta) != 3 || len(m.P) != 9 || m.Samples != 0 || m.MSE != 0 || m.RecentMSE != 0 || m.MaxTrace != 0 {
		t.Fatalf("NewModel = %+v", m)
	}
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			want := 0.0
			if i == j {
				want = 2.5
			}
			if m.P[i*3+j] != want {
				t.Fatalf("P[%d][%d] = %g, want %g", i, j, m.P[i*3+j], want)
			}
		}
	}
	if got := m.PTrace(); got != 7.5 {
		t.Fatalf("PTrace = %g", got)
	}
	if got := m.TraceCap(); got != DefaultTraceFactor*7.5 {
		t.Fatalf("TraceCap = %g", got)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	m.MaxTrace = 42
	if got := m.TraceCap(); got != 42 {
		t.Fatalf("TraceCap with MaxTrace = %g", got)
	}
}

func TestPExactlySymmetricLongRun(t *testing.T) {
	const n, N = 10, 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewModel(Spec{"mod2", 0.99, 10}, n)
	x := make([]float64, n)
	for i := 0; i < N; i++ {
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		if _, err := m.Update(x, rng.NormFloat64()); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if i%10_000 == 0 && !exactlySymmetric(n, m.P) {
			t.Fatalf("P not exactly symmetric after %d samples", i+1)
		}
	}
	if !exactlySymmetric(n, m.P) {
		t.Fatalf("P not exactly symmetric after %d samples", N)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorFigures(t *testing.T) {
	const n, N = 4, 5000
	rng := rand.New(rand.NewPCG(3, 4))
	xs, ys, _ := gaussianData(rng, N, n, 0.5)
	m := NewModel(Spec{"m", 0.995, 10}, n)
	var mse, recent, sum float64
	for i := range xs {
		want := ys[i] - m.Predict(xs[i]) // a-priori error, computed independently
		e, err := m.Update(xs[i], ys[i])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(e-want) > 1e-12*(1+math.Abs(want)) {
			t.Fatalf("sample %d: Update returned e = %g, y − xᵀθ = %g", i, e, want)
		}
		e2 := e * e
		sum += e2
		mse += (e2 - mse) / float64(i+1)
		if i == 0 {
			recent = e2
		} else {
			recent += RecentAlpha * (e2 - recent)
		}
		if m.Samples != uint64(i+1) {
			t.Fatalf("Samples = %d, want %d", m.Samples, i+1)
		}
		if m.MSE != mse || m.RecentMSE != recent {
			t.Fatalf("sample %d: MSE %g RecentMSE %g, recomputed %g %g", i, m.MSE, m.RecentMSE, mse, recent)
		}
	}
	if plain := sum / N; math.Abs(m.MSE-plain) > 1e-12*plain {
		t.Fatalf("MSE %g, plain mean of e² %g", m.MSE, plain)
	}
}

// TestStructLiteralModel: a model as a decoder builds it (no scratch) works
// and gives the same results as one from NewModel.
func TestStructLiteralModel(t *testing.T) {
	const n = 5
	ref := NewModel(Spec{"m", 0.98, 3}, n)
	lit := &Model{Spec: ref.Spec, Dim: n, Theta: append([]float64(nil), ref.Theta...), P: append([]float64(nil), ref.P...)}
	rng := rand.New(rand.NewPCG(5, 6))
	xs, ys, _ := gaussianData(rng, 200, n, 0.1)
	for i := range xs {
		e1, err1 := ref.Update(xs[i], ys[i])
		e2, err2 := lit.Update(xs[i], ys[i])
		if err1 != nil || err2 != nil || e1 != e2 {
			t.Fatalf("sample %d: %g %v / %g %v", i, e1, err1, e2, err2)
		}
	}
	if !sameBits(ref, lit) {
		t.Fatal("struct-literal model diverged from NewModel's")
	}
	// A decoder may also swap in slices of another dimension.
	lit.Dim, lit.Theta, lit.P = 2, []float64{0, 0}, []float64{1, 0, 0, 1}
	if _, err := lit.Update([]float64{1, 2}, 3); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector empties sync.Pools at random")
	}
	for _, n := range []int{1, 10, 100} {
		m := NewModel(Spec{"m", 0.99, 1}, n)
		rng := rand.New(rand.NewPCG(7, uint64(n)))
		x := make([]float64, n)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		if a := testing.AllocsPerRun(100, func() { m.Update(x, 1) }); a != 0 {
			t.Errorf("n=%d: Model.Update allocates %v times", n, a)
		}
		b := NewBank(DefaultSpecs(), n)
		if a := testing.AllocsPerRun(100, func() { b.Update(x, 1) }); a != 0 {
			t.Errorf("n=%d: Bank.Update allocates %v times", n, a)
		}
		dst := make([]float64, 0, 2)
		if a := testing.AllocsPerRun(100, func() { dst = b.PredictInto(dst, x) }); a != 0 {
			t.Errorf("n=%d: Bank.PredictInto allocates %v times", n, a)
		}
	}
}

type rejectCase struct {
	name    string
	m       func() *Model
	x       []float64
	y       float64
	want    error
	fmaOnly bool // the example relies on the rounding of fused multiply-adds
}

func rejectCases() []rejectCase {
	nan, inf := math.NaN(), math.Inf(1)
	return []rejectCase{
		{"short x", warm(3, 1), []float64{1, 2}, 0, ErrDim, false},
		{"long x", warm(3, 1), []float64{1, 2, 3, 4}, 0, ErrDim, false},
		{"nil x", warm(3, 1), nil, 0, ErrDim, false},
		{"NaN in x", warm(3, 1), []float64{1, nan, 3}, 0, ErrNonFinite, false},
		{"+Inf in x", warm(3, 1), []float64{inf, 2, 3}, 0, ErrNonFinite, false},
		{"-Inf in x", warm(3, 1), []float64{1, 2, -inf}, 0, ErrNonFinite, false},
		{"NaN y", warm(3, 1), []float64{1, 2, 3}, nan, ErrNonFinite, false},
		{"+Inf y", warm(3, 1), []float64{1, 2, 3}, inf, ErrNonFinite, false},
		{"-Inf y", warm(3, 0.9), []float64{1, 2, 3}, -inf, ErrNonFinite, false},
		{"kappa <= 0 (P indefinite)", func() *Model {
			m := NewModel(Spec{"m", 1, 1}, 2)
			m.P = []float64{-1, 0, 0, -1}
			return m
		}, []float64{1, 1}, 0, ErrNumeric, false},
		{"P overflows", func() *Model {
			m := NewModel(Spec{"m", 0.5, 1}, 2)
			m.P = []float64{1e308, 0, 0, 1}
			m.MaxTrace = math.Inf(1)
			return m
		}, []float64{0, 0}, 0, ErrNumeric, false},
		{"theta overflows", func() *Model {
			// n = 1, P = 1e300, x = 1e-150: κ = 2, k = 5e149; e = 1e154
			// (e² still finite) pushes θ = 1.79766e308 past MaxFloat64.
			m := NewModel(Spec{"m", 1, 1}, 1)
			m.P[0] = 1e300
			m.Theta[0] = 1.79766e308
			m.MaxTrace = math.Inf(1)
			return m
		}, []float64{1e-150}, 1.79766e308*1e-150 + 1e154, ErrNumeric, false},
		{"lambda out of range", func() *Model {
			m := NewModel(Spec{"m", 1, 1}, 2)
			m.Lambda = 1.5
			return m
		}, []float64{1, 1}, 0, ErrState, false},
		{"delta not > 0", func() *Model {
			m := NewModel(Spec{"m", 0.9, 1}, 2)
			m.Delta = 0 // the default windup cap would be 0
			return m
		}, []float64{1, 1}, 0, ErrState, false},
		{"short P", func() *Model {
			m := NewModel(Spec{"m", 1, 1}, 2)
			m.P = m.P[:3]
			return m
		}, []float64{1, 1}, 0, ErrState, false},
		{"negative Dim", func() *Model {
			m := NewModel(Spec{"m", 1, 1}, 0)
			m.Dim = -1
			return m
		}, nil, 0, ErrDim, false},
	}
}

func TestRejectLeavesModelUnchanged(t *testing.T) {
	for _, tc := range rejectCases() {
		runRejectCase(t, tc)
	}
}

func runRejectCase(t *testing.T, tc rejectCase) {
	t.Run(tc.name, func(t *testing.T) {
		if tc.fmaOnly && !useFMA {
			t.Skip("needs fused multiply-adds")
		}
		m := tc.m()
		before := m.Clone()
		e, err := m.Update(tc.x, tc.y)
		if !errors.Is(err, tc.want) {
			t.Fatalf("Update = %g, %v; want error %v", e, err, tc.want)
		}
		if !math.IsNaN(e) {
			t.Errorf("e = %g on error, want NaN", e)
		}
		if !sameBits(m, before) {
			t.Fatalf("rejected sample changed the model:\nbefore %+v\nafter  %+v", before, m)
		}
		// The scratch left behind by the rejected update must not leak
		// into the next good one.
		if tc.want == ErrState || len(tc.x) != m.Dim {
			return
		}
		good := make([]float64, m.Dim)
		for i := range good {
			good[i] = 0.25 * float64(i+1)
		}
		ref := before.Clone()
		e1, err1 := m.Update(good, 0.5)
		e2, err2 := ref.Update(good, 0.5)
		if (err1 == nil) != (err2 == nil) || !sameBits(m, ref) || (err1 == nil && e1 != e2) {
			t.Fatalf("update after a rejection differs: %g %v / %g %v", e1, err1, e2, err2)
		}
	})
}

// warm returns a constructor of a model of dimension n with 50 samples of
// history.
func warm(n int, lambda float64) func() *Model {
	return func() *Model {
		rng := rand.New(rand.NewPCG(8, uint64(n)))
		xs, ys, _ := gaussianData(rng, 50, n, 0.1)
		m := NewModel(Spec{"m", lambda, 10}, n)
		for i := range xs {
			if _, err := m.Update(xs[i], ys[i]); err != nil {
				panic(err)
			}
		}
		return m
	}
}

func TestPredict(t *testing.T) {
	m := NewModel(Spec{"m", 1, 1}, 3)
	copy(m.Theta, []float64{1, -2, 0.5})
	if got := m.Predict([]float64{2, 1, 4}); got != 2 {
		t.Fatalf("Predict = %g, want 2", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Predict with a wrong dimension did not panic")
		}
	}()
	m.Predict([]float64{1, 2})
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(m *Model)
	}{
		{"bad spec", func(m *Model) { m.Lambda = 0 }},
		{"short theta", func(m *Model) { m.Theta = m.Theta[:1] }},
		{"long P", func(m *Model) { m.P = append(m.P, 0) }},
		{"NaN theta", func(m *Model) { m.Theta[1] = math.NaN() }},
		{"Inf P", func(m *Model) { m.P[1], m.P[2] = math.Inf(1), math.Inf(1) }},
		{"asymmetric P", func(m *Model) { m.P[1] = math.Nextafter(m.P[1], 1) }},
		{"zero diagonal", func(m *Model) { m.P[0] = 0 }},
		{"negative MSE", func(m *Model) { m.MSE = -1 }},
		{"NaN recent", func(m *Model) { m.RecentMSE = math.NaN() }},
		{"NaN MaxTrace", func(m *Model) { m.MaxTrace = math.NaN() }},
	}
	for _, tc := range tests {
		m := warm(2, 0.99)()
		if err := m.Check(); err != nil {
			t.Fatalf("healthy model: %v", err)
		}
		tc.break_(m)
		if err := m.Check(); err == nil {
			t.Errorf("%s: Check accepted the model", tc.name)
		}
	}
}

func TestBank(t *testing.T) {
	const n = 6
	rng := rand.New(rand.NewPCG(9, 10))
	xs, ys, _ := gaussianData(rng, 300, n, 0.2)
	b := NewBank(DefaultSpecs(), n)
	if b.Dim != n || len(b.Models) != 2 || b.Models[0].Name != "mod1" || b.Models[1].Name != "mod2" {
		t.Fatalf("NewBank = %+v", b)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	for _, m := range b.Models { // laid out together, but none may reach into another
		if cap(m.Theta) != n || cap(m.P) != n*n {
			t.Fatalf("model %s: cap θ %d, cap P %d, want %d and %d", m.Name, cap(m.Theta), cap(m.P), n, n*n)
		}
	}
	solo := []*Model{NewModel(DefaultSpecs()[0], n), NewModel(DefaultSpecs()[1], n)}
	for i := range xs {
		if err := b.Update(xs[i], ys[i]); err != nil {
			t.Fatal(err)
		}
		for _, m := range solo {
			if _, err := m.Update(xs[i], ys[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, m := range solo {
		if !sameBits(b.Models[i], m) {
			t.Fatalf("bank model %s differs from a lone model", m.Name)
		}
	}
	p := b.Predict(xs[0])
	if len(p) != 2 || p[0] != solo[0].Predict(xs[0]) || p[1] != solo[1].Predict(xs[0]) {
		t.Fatalf("Predict = %v", p)
	}
	if b.Model("mod2") != b.Models[1] || b.Model("nope") != nil {
		t.Fatal("Model(name)")
	}
	c := b.Clone()
	c.Models[0].Theta[0]++
	if b.Models[0].Theta[0] == c.Models[0].Theta[0] {
		t.Fatal("Clone shares state")
	}
	if err := b.Update(make([]float64, n+1), 0); !errors.Is(err, ErrDim) {
		t.Fatalf("wrong dimension: %v", err)
	}
}

func TestBankAllOrNothing(t *testing.T) {
	// The first model accepts x = 0; the second overflows P (1e308/0.5) and
	// rejects it: the first must not change either.
	b := NewBank([]Spec{{"ok", 0.99, 1}, {"bad", 0.5, 1}}, 2)
	b.Models[1].P[0] = 1e308
	b.Models[1].MaxTrace = math.Inf(1)
	before := b.Clone()
	err := b.Update([]float64{0, 0}, 1)
	if !errors.Is(err, ErrNumeric) {
		t.Fatalf("Update = %v, want ErrNumeric", err)
	}
	if want := `model "bad"`; err == nil || !contains(err.Error(), want) {
		t.Errorf("error %q does not name the model (%s)", err, want)
	}
	for i := range b.Models {
		if !sameBits(b.Models[i], before.Models[i]) {
			t.Fatalf("model %s changed although the bank rejected the sample", b.Models[i].Name)
		}
	}
	if err := b.Update([]float64{math.NaN(), 0}, 1); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("NaN: %v", err)
	}
	for i := range b.Models {
		if !sameBits(b.Models[i], before.Models[i]) {
			t.Fatalf("model %s changed on NaN input", b.Models[i].Name)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// checkHealthy asserts P finite, exactly symmetric, positive semidefinite,
// trace(P) ≤ cap, θ finite.
func checkHealthy(t *testing.T, m *Model) {
	t.Helper()
	n := m.Dim
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if !exactlySymmetric(n, m.P) {
		t.Fatal("P not exactly symmetric")
	}
	if tr := m.PTrace(); !(tr <= m.TraceCap()) {
		t.Fatalf("trace(P) = %g > cap %g", tr, m.TraceCap())
	}
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(n, append([]float64(nil), m.P...)), false) {
		t.Fatal("eigendecomposition failed")
	}
	vals := eig.Values(nil)
	top := vals[len(vals)-1]
	for _, v := range vals {
		if v < -1e-12*top {
			t.Fatalf("P not PSD: eigenvalues %v", vals)
		}
	}
}

// windupSamples is the length of the windup runs: 10⁶ samples (10⁵ under
// the race detector).
func windupSamples() int {
	if raceEnabled {
		return 100_000
	}
	return 1_000_000
}

func TestWindupNoExcitation(t *testing.T) {
	const n = 10
	N := windupSamples()
	m := NewModel(Spec{"mod2", 0.99, 1}, n)
	x := make([]float64, n)
	for i := 0; i < N; i++ {
		if _, err := m.Update(x, 0); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	checkHealthy(t, m)
	// With x = 0 the cap freezes P at trace = cap.
	if tr, c := m.PTrace(), m.TraceCap(); tr < c*(1-1e-9) {
		t.Errorf("trace %g, want ≈ cap %g", tr, c)
	}
	if p := m.Predict([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); !finite(p) {
		t.Fatalf("Predict = %g", p)
	}
	// The model still learns once excited.
	rng := rand.New(rand.NewPCG(11, 12))
	xs, ys, truth := gaussianData(rng, 500, n, 0.01)
	for i := range xs {
		if _, err := m.Update(xs[i], ys[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range truth {
		if math.Abs(m.Theta[i]-truth[i]) > 0.01 {
			t.Fatalf("after windup, theta %v, truth %v", m.Theta, truth)
		}
	}
}

func TestWindupCollinear(t *testing.T) {
	const n = 10
	N := windupSamples()
	rng := rand.New(rand.NewPCG(13, 14))
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	truth := make([]float64, n)
	for i := range truth {
		truth[i] = rng.NormFloat64()
	}
	m := NewModel(Spec{"mod2", 0.99, 1}, n)
	x := make([]float64, n)
	capped := false
	for i := 0; i < N; i++ {
		c := rng.NormFloat64()
		for j := range x {
			x[j] = c * v[j]
		}
		if _, err := m.Update(x, dotRef(x, truth)+0.01*rng.NormFloat64()); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if i%100_000 == 0 {
			checkHealthy(t, m)
		}
		capped = capped || m.PTrace() > 0.99*m.TraceCap()
	}
	checkHealthy(t, m)
	if !capped {
		t.Error("the cap never engaged")
	}
	// Along v the model is determined: it predicts vᵀθ* well.
	if got, want := m.Predict(v), dotRef(v, truth); !finite(got) || math.Abs(got-want) > 0.01*(1+math.Abs(want)) {
		t.Fatalf("Predict(v) = %g, want %g", got, want)
	}
}

// TestLearningCurveLambda1 checks the learning-curve oracle for λ = 1,
// x ~ N(0, I), near-diffuse start: E[e²ₙ₊₁] = σ²(1 + n/(N − n − 1)), averaged
// over independent runs.
func TestLearningCurveLambda1(t *testing.T) {
	const n, sigma, runs = 5, 1.0, 4000
	rng := rand.New(rand.NewPCG(15, 16))
	checkAt := []int{10, 20, 40}
	sums := make([]float64, len(checkAt))
	for r := 0; r < runs; r++ {
		xs, ys, _ := gaussianData(rng, 41, n, sigma)
		m := NewModel(Spec{"m", 1, 1e6}, n)
		k := 0
		for i := range xs {
			e, err := m.Update(xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			if k < len(checkAt) && i == checkAt[k] { // e of sample N+1 after N samples
				sums[k] += e * e
				k++
			}
		}
	}
	for k, N := range checkAt {
		got := sums[k] / runs
		want := sigma * sigma * (1 + float64(n)/float64(N-n-1))
		// sd of the mean ≈ want·√(2/runs) ≈ 0.022·want; allow ~4 sd.
		if math.Abs(got-want) > 0.09*want {
			t.Errorf("N=%d: mean e² %.4f, theory %.4f", N, got, want)
		}
	}
}

// TestSteadyStateExcessMSE checks the excess MSE for λ < 1: about
// σ²·n(1 − λ)/(1 + λ) (≈ 5% of σ² for n = 10, λ = 0.99).
func TestSteadyStateExcessMSE(t *testing.T) {
	const n, sigma, lambda, burn = 10, 1.0, 0.99, 2000
	N := 200_000
	if raceEnabled {
		N = 50_000
	}
	rng := rand.New(rand.NewPCG(17, 18))
	truth := make([]float64, n)
	for i := range truth {
		truth[i] = rng.NormFloat64()
	}
	m := NewModel(Spec{"m", lambda, 1}, n)
	x := make([]float64, n)
	var sum float64
	for i := 0; i < N+burn; i++ {
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		e, err := m.Update(x, dotRef(x, truth)+sigma*rng.NormFloat64())
		if err != nil {
			t.Fatal(err)
		}
		if i >= burn {
			sum += e * e
		}
	}
	excess := sum/float64(N) - sigma*sigma
	want := sigma * sigma * n * (1 - lambda) / (1 + lambda)
	if math.Abs(excess-want) > 0.3*want {
		t.Errorf("excess MSE %.4f, theory %.4f", excess, want)
	}
}
