package rls

import "math"

// The slow path of Model.Update and the positive-definiteness check. The
// fast path (model.go) is the textbook update; it is taken when the sample
// shrinks P along x by at most fastShrink (κ/λ ≤ fastShrink), where the
// subtraction P − ππᵀ/κ keeps enough digits. A sample that brings much more
// information than P expects (a first sample of 10⁷, features of 10¹⁵⁰) goes
// here instead: the same update, in equilibrated coordinates and a
// square-root form in which every term is positive semidefinite.

// fastShrink bounds κ/λ on the fast path: P along x shrinks by at most this
// factor in one step, so the subtraction loses at most 20 bits. A variable
// so that tests can send every sample down the slow path.
var fastShrink = 0x1p20

const (
	// pdFloor is the least pivot of the Cholesky factor of the equilibrated
	// P (unit diagonal) that passes as safely positive definite, and the
	// first ridge tried when it does not.
	pdFloor = 0x1p-40
	// pdSuspect: a fast step whose x has Rayleigh quotient xᵀP'x/Σx_i²P'_ii
	// below it, in the equilibrated P', checks P' (checkPD).
	pdSuspect = 0x1p-30
	// pdEvery: the fast path also checks P every pdEvery samples.
	pdEvery = 4096
)

// rwork is the scratch of the slow path and of checkPD, pooled per
// dimension like work.
type rwork struct {
	l, g, p    []float64 // n×n: a Cholesky factor, G, the new P
	d, x, v, w []float64 // n each
	theta      []float64 // the new θ
}

var rworkPools sizedPools

func getRwork(n int) *rwork {
	r, _ := rworkPools.get(n).Get().(*rwork)
	if r == nil {
		r = &rwork{
			l: make([]float64, n*n), g: make([]float64, n*n), p: make([]float64, n*n),
			d: make([]float64, n), x: make([]float64, n), v: make([]float64, n), w: make([]float64, n),
			theta: make([]float64, n),
		}
	}
	return r
}

func putRwork(n int, r *rwork) { rworkPools.get(n).Put(r) }

// cholesky factors the symmetric n×n a (lower triangle read) in place into
// L with a = L Lᵀ, and reports whether every pivot L_jj² exceeded minPivot.
func cholesky(n int, a []float64, minPivot float64) bool {
	for j := 0; j < n; j++ {
		rj := a[j*n : j*n+j+1]
		s := rj[j]
		for _, v := range rj[:j] {
			s -= v * v
		}
		if !(s > minPivot) || s > math.MaxFloat64 {
			return false
		}
		ljj := math.Sqrt(s)
		rj[j] = ljj
		inv := 1 / ljj
		for i := j + 1; i < n; i++ {
			ri := a[i*n : i*n+j+1]
			t := ri[j]
			for k, v := range rj[:j] {
				t -= ri[k] * v
			}
			ri[j] = t * inv
		}
	}
	return true
}

// factorEquilibrated sets d_i = √P_ii and l to the Cholesky factor of
// C + μI, C = D⁻¹PD⁻¹ (unit diagonal), for the least μ in 0, pdFloor,
// 16·pdFloor, … with every pivot > pdFloor, and returns μ. If P's
// off-diagonal entries are so wrong that no μ ≤ 2⁴⁰ helps, it factors
// (1 + μ)·I and reports diag. P's diagonal must be finite and > 0.
func factorEquilibrated(n int, P, d, l []float64) (mu float64, diag bool) {
	for i := 0; i < n; i++ {
		d[i] = math.Sqrt(P[i*n+i])
	}
	for mu = 0; mu <= 0x1p40; {
		for i := 0; i < n; i++ {
			row := l[i*n : i*n+i+1]
			for j := range row[:i] {
				row[j] = P[i*n+j] / (d[i] * d[j])
			}
			row[i] = 1 + mu
		}
		if cholesky(n, l, pdFloor) {
			return mu, false
		}
		if mu == 0 {
			mu = pdFloor
		} else {
			mu *= 16
		}
	}
	clear(l[:n*n])
	for i := 0; i < n; i++ {
		l[i*n+i] = math.Sqrt(1 + mu)
	}
	return mu, true
}

// checkPD makes the exactly symmetric p (diagonal finite and > 0) safely
// positive definite: if the equilibrated p is not (factorEquilibrated
// needs a ridge μ), it multiplies p's diagonal by 1 + μ, which is
// p + μ·diag(p): a little more uncertainty on every coefficient, in the
// units of each. If no ridge helps, it keeps only p's diagonal. It keeps p
// exactly symmetric and reports whether it changed p.
func checkPD(n int, p []float64, r *rwork) bool {
	mu, diag := factorEquilibrated(n, p, r.d, r.l)
	switch {
	case mu == 0:
		return false
	case diag:
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if i != j {
					p[i*n+j] = 0
				}
			}
		}
		return true
	}
	f := 1 + mu
	for i := 0; i < n; i++ {
		p[i*n+i] *= f
	}
	return true
}

// prepareSlow computes the update of (x, y) into m.next.slow (θ' and P')
// in equilibrated coordinates: with D = diag(√P_ii), C = D⁻¹PD⁻¹ = L Lᵀ
// (Cholesky), x̂ = D x / s (s a power of two, so that max |x̂_i| is about 1)
// and v = Lᵀx̂,
//
//	λP' = P − ππᵀ/κ = D L (I − v vᵀ s²/κ) Lᵀ D,   κ = λ + s²|v|²,
//
// and I − vvᵀs²/κ = (I − v̂v̂ᵀ) + ω v̂v̂ᵀ with ω = λ/κ, so with w = L v̂ and
// G = L − w v̂ᵀ = L (I − v̂v̂ᵀ)
//
//	λ D⁻¹P'D⁻¹ = G Gᵀ + ω w wᵀ:
//
// two positive semidefinite terms, no subtraction of nearly equal
// matrices, and ω computed directly: when x̂ is along one axis (one feature
// far larger than P expects), v̂ is exactly a unit vector, G is exact and
// P' along x is exact however small. What floating point cannot represent
// (P' shrinking by more than about 2⁵² in a direction that is not a
// feature's axis) is lifted to the floor of checkPD. The gain is
// k = π/κ = s·D·L v/κ, applied to e bounded as Scoring.Robust says. It
// returns the a-priori error, κ/λ and λ/κ.
func (m *Model) prepareSlow(x []float64, y float64, sc *Scoring) (e, kol, invKol float64, err error) {
	n := m.Dim
	r := getRwork(n)
	m.next.slow = r
	P := m.P
	for i := 0; i < n; i++ {
		if d := P[i*n+i]; !(d > 0 && d <= math.MaxFloat64) {
			return 0, 0, 0, ErrNumeric
		}
	}
	factorEquilibrated(n, P, r.d, r.l)
	d, L, xh, v, wv := r.d[:n], r.l[:n*n], r.x[:n], r.v[:n], r.w[:n]

	e = y - dot(x, m.Theta)
	if !finite(e) {
		return 0, 0, 0, ErrNumeric
	}
	var mx float64
	for i, xi := range x {
		xh[i] = d[i] * xi
		mx = max(mx, math.Abs(xh[i]))
	}
	if !finite(mx) {
		return 0, 0, 0, ErrNumeric
	}
	lam := m.Lambda
	copy(r.theta, m.Theta)
	if mx == 0 { // no information: P' = P/λ
		kol, invKol = 1, 1
		inv := 1 / lam
		for i := range r.p[:n*n] {
			r.p[i] = P[i] * inv
		}
		return e, kol, invKol, m.finishSlow()
	}
	_, k := math.Frexp(mx)
	for i := range xh {
		xh[i] = math.Ldexp(xh[i], -k)
	}
	// v = Lᵀx̂.
	var nv2 float64
	for j := 0; j < n; j++ {
		var s float64
		for i := j; i < n; i++ {
			s += L[i*n+j] * xh[i]
		}
		v[j] = s
		nv2 += s * s
	}
	// ω = λ/κ, κ/λ and s/κ, without forming s² (which may overflow or
	// underflow).
	var omega, sok float64
	if k >= 0 {
		a := math.Ldexp(lam, -2*k) // λ/s²
		omega = a / (a + nv2)
		kol = (a + nv2) / a
		sok = math.Ldexp(1/(a+nv2), -k)
	} else {
		b := math.Ldexp(nv2, 2*k) // s²|v|²
		omega = lam / (lam + b)
		kol = 1 + b/lam
		sok = math.Ldexp(1, k) / (lam + b)
	}
	if !finite(kol) {
		kol = math.MaxFloat64
	}
	invKol = omega
	nv := math.Sqrt(nv2)
	if nv == 0 || !finite(nv) {
		return 0, 0, 0, ErrNumeric
	}
	// w = L v̂, and θ' = θ + D (L v) (s/κ) e with L v = |v| w.
	for i := range v {
		v[i] /= nv
	}
	gain := m.boundedError(e, math.Sqrt(kol), sc) * sok * nv
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j <= i; j++ {
			s += L[i*n+j] * v[j]
		}
		wv[i] = s
		r.theta[i] = m.Theta[i] + d[i]*s*gain
	}
	// G = L − w v̂ᵀ (full), then P' = D (G Gᵀ + ω w wᵀ) D / λ.
	G := r.g[:n*n]
	for i := 0; i < n; i++ {
		row := G[i*n : i*n+n]
		for j := range row {
			var lij float64
			if j <= i {
				lij = L[i*n+j]
			}
			row[j] = lij - wv[i]*v[j]
		}
	}
	inv := 1 / lam
	for i := 0; i < n; i++ {
		gi := G[i*n : i*n+n]
		for j := 0; j <= i; j++ {
			gj := G[j*n : j*n+n]
			var s float64
			for t, gv := range gi {
				s += gv * gj[t]
			}
			s += omega * wv[i] * wv[j]
			if i == j {
				// Keep the diagonal > 0 where ω underflowed or the
				// sum rounded to 0; checkPD then lifts it.
				s = max(s, 0x1p-1000)
			}
			pij := (d[i] * d[j]) * s * inv
			r.p[i*n+j], r.p[j*n+i] = pij, pij
		}
	}
	return e, kol, invKol, m.finishSlow()
}

// finishSlow checks the θ' and P' of the slow path, lifts P' to safely
// positive definite and applies the windup cap.
func (m *Model) finishSlow() error {
	n := m.Dim
	r := m.next.slow
	var chk float64
	for _, v := range r.theta[:n] {
		chk += v
	}
	p := r.p[:n*n]
	for i := 0; i < n; i++ {
		d := p[i*n+i]
		if !(d > 0 && d <= math.MaxFloat64) {
			return ErrNumeric
		}
		for _, v := range p[i*n : i*n+n] {
			chk += v * 0
		}
	}
	if !finite(chk) {
		return ErrNumeric
	}
	checkPD(n, p, r)
	var trace float64
	for i := 0; i < n; i++ {
		trace += p[i*n+i]
	}
	if !finite(trace) {
		return ErrNumeric
	}
	if limit := m.TraceCap(); trace > limit {
		capTrace(n, p, trace, limit)
	}
	return nil
}
