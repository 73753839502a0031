package rls

import "math"

// The inner loops of Model.Update. They work on flat row-major slices. On
// amd64 with AVX2 and FMA, pvec and pupdate run hand-written vector kernels
// (kernel_amd64.s); elsewhere, or with the purego build tag, the Go code
// below, which performs the same floating-point operations in the same order
// (fused multiply-adds included), so both give bit-identical results.

// useAVX2 selects the assembly kernels; set at init on amd64 when the CPU
// and OS support AVX2 and FMA. Tests switch it off to check the Go path.
var useAVX2 = hasAVX2FMA()

// dot returns Σ a[i]·b[i] for len(a) ≤ len(b), with four partial sums.
func dot(a, b []float64) float64 {
	var s0, s1, s2, s3 float64
	for len(a) >= 4 && len(b) >= 4 {
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
		a, b = a[4:], b[4:]
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// pvec sets pi = P x for the symmetric n×n row-major P, as the sum of the
// rows of P weighted by x (row j of P is its column j). tmp is scratch of
// length n.
//
// Operation order (shared with the assembly): for each column c, one fused
// multiply-add chain over the even rows j = 0, 2, 4, … (and, for odd n, the
// last row), another over the odd rows, then their sum.
func pvec(n int, P, x, pi, tmp []float64) {
	P = P[:n*n]
	x = x[:n]
	pi = pi[:n]
	if useAVX2 && n >= 4 {
		pvecAVX2(n, &P[0], &x[0], &pi[0])
		return
	}
	tmp = tmp[:n]
	for c := range pi {
		pi[c] = 0
		tmp[c] = 0
	}
	j := 0
	for ; j+1 < n; j += 2 {
		xe, xo := x[j], x[j+1]
		re := P[j*n : j*n+n]
		ro := P[(j+1)*n : (j+1)*n+n]
		re = re[:len(pi)]
		ro = ro[:len(pi)]
		tmp := tmp[:len(pi)]
		for c := range pi {
			pi[c] = math.FMA(xe, re[c], pi[c])
			tmp[c] = math.FMA(xo, ro[c], tmp[c])
		}
	}
	if j < n {
		xe := x[j]
		re := P[j*n : j*n+n]
		re = re[:len(pi)]
		for c := range pi {
			pi[c] = math.FMA(xe, re[c], pi[c])
		}
	}
	for c := range pi {
		pi[c] += tmp[c]
	}
}

// pupdate sets dst[i*n+j] = fma(−(π[i]·π[j]), c, P[i*n+j]·invLambda), i.e.
// P/λ − ππᵀ/(κλ) = (P − k πᵀ)/λ with c = 1/(κλ), for every i, j, and returns a
// sum of entries of dst that is finite if and only if all of them are (some
// may be counted twice). Each entry is computed by the same operations from
// P[i*n+j] and the (commutative) product π[i]·π[j], so a symmetric P gives
// an exactly symmetric result.
func pupdate(n int, P, pi, dst []float64, invLambda, c float64) (chk float64) {
	P = P[:n*n]
	pi = pi[:n]
	dst = dst[:n*n]
	if useAVX2 && n >= 4 {
		return pupdateAVX2(n, &P[0], &pi[0], &dst[0], invLambda, c)
	}
	nc := -c
	var c0, c1 float64
	for i, pii := range pi {
		src := P[i*n : i*n+n]
		out := dst[i*n : i*n+n]
		src = src[:len(pi)]
		out = out[:len(pi)]
		j := 0
		for ; j+2 <= len(pi); j += 2 {
			v0 := math.FMA(pii*pi[j], nc, src[j]*invLambda)
			v1 := math.FMA(pii*pi[j+1], nc, src[j+1]*invLambda)
			out[j] = v0
			out[j+1] = v1
			c0 += v0
			c1 += v1
		}
		if j < len(pi) {
			v := math.FMA(pii*pi[j], nc, src[j]*invLambda)
			out[j] = v
			c0 += v
		}
	}
	return c0 + c1
}
