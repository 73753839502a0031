package rls

// The inner loops of Model.Update. They work on flat row-major slices and
// are written so that the compiler can drop the bounds checks of the inner
// loops.

// dot returns Σ a[i]·b[i] for len(a) ≤ len(b).
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// symv sets pi = P x for the n×n row-major matrix P.
func symv(n int, P, x, pi []float64) {
	x = x[:n]
	pi = pi[:n]
	P = P[:n*n]
	for i := range pi {
		pi[i] = dot(x, P[i*n:])
	}
}

// thetaUpdate sets next = theta + pi·(invKappa·e) and reports whether the
// result is finite.
func thetaUpdate(theta, pi, next []float64, invKappa, e float64) bool {
	pi = pi[:len(theta)]
	next = next[:len(theta)]
	g := invKappa * e
	var chk float64
	for i, t := range theta {
		v := t + pi[i]*g
		next[i] = v
		chk += v
	}
	return finite(chk)
}

// triUpdate sets the upper triangle (j ≥ i) of dst to
// (P[i][j] − k[i]·π[j])·invLambda with k = π·invKappa, and returns the trace
// of the result and whether every computed entry is finite.
func triUpdate(n int, P, pi, dst []float64, invKappa, invLambda float64) (trace float64, ok bool) {
	P = P[:n*n]
	dst = dst[:n*n]
	pi = pi[:n]
	var chk0, chk1 float64
	for i := 0; i < n; i++ {
		ki := pi[i] * invKappa
		src := P[i*n+i : i*n+n]
		out := dst[i*n+i : i*n+n]
		pj := pi[i:]
		pj = pj[:len(src)]
		out = out[:len(src)]
		j := 0
		for ; j+2 <= len(src); j += 2 {
			v0 := (src[j] - ki*pj[j]) * invLambda
			v1 := (src[j+1] - ki*pj[j+1]) * invLambda
			out[j] = v0
			out[j+1] = v1
			chk0 += v0
			chk1 += v1
		}
		if j < len(src) {
			v := (src[j] - ki*pj[j]) * invLambda
			out[j] = v
			chk0 += v
		}
		trace += out[0]
	}
	return trace, finite(chk0 + chk1)
}

// mirror copies the upper triangle of the n×n row-major p onto its lower
// triangle.
func mirror(n int, p []float64) {
	p = p[:n*n]
	for i := 0; i < n; i++ {
		row := p[i*n : i*n+n]
		for j := i + 1; j < len(row); j++ {
			p[j*n+i] = row[j]
		}
	}
}
