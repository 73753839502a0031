package rls

import "math"

// The inner loops of Model.Update. They work on flat row-major slices. On
// amd64 with AVX2 and FMA, pvec and pupdate run hand-written vector
// kernels (kernel_amd64.s); Model.prepare and commit choose between the
// assembly and the Go code themselves rather than through pvec and pupdate,
// which do not inline, saving a call per update. Elsewhere the Go code below
// runs. Where Go compiles math.FMA to a plain instruction (arm64, ppc64,
// s390x, riscv64, loong64) it performs the same floating-point operations as
// the assembly, in the same order, fused multiply-adds included:
// TestKernelsMatchGo checks that both give bit-identical results. Elsewhere
// (amd64 without AVX2 or built with purego, 386, 32-bit arm, …) it
// multiplies and adds separately, which is faster there, and rounds
// differently in the last bits. Results on different architectures may
// differ in the last bits anyway: the Go compiler fuses other multiply-adds
// on some of them.

// useAVX2 selects the assembly kernels; set at init on amd64 when the CPU
// and OS support AVX2 and FMA. Tests switch it off to check the Go path.
var useAVX2 = hasAVX2FMA()

// useFMA makes the Go kernels use math.FMA (see above). Tests switch it on
// to check the Go code against the assembly bit for bit.
var useFMA = hasFMA()

// dot returns Σ a[i]·b[i] for len(a) ≤ len(b), with four partial sums:
// s_k adds the terms of the indices ≡ k mod 4 below the last multiple of
// 4; of the rest, a pair goes to s0 and s1, then a single index to s0 (as
// the assembly's column chunks of 4, 2 and 1).
func dot(a, b []float64) float64 {
	var s0, s1, s2, s3 float64
	for len(a) >= 4 && len(b) >= 4 {
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
		a, b = a[4:], b[4:]
	}
	if len(a) >= 2 && len(b) >= 2 {
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		a, b = a[2:], b[2:]
	}
	if len(a) >= 1 && len(b) >= 1 {
		s0 += a[0] * b[0]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot2 returns (Σ x[i]·a[i], Σ x[i]·b[i]) for len(x) ≤ len(a), len(b), each
// with the partial sums of dot.
func dot2(x, a, b []float64) (sa, sb float64) {
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	for len(x) >= 4 && len(a) >= 4 && len(b) >= 4 {
		a0 += x[0] * a[0]
		a1 += x[1] * a[1]
		a2 += x[2] * a[2]
		a3 += x[3] * a[3]
		b0 += x[0] * b[0]
		b1 += x[1] * b[1]
		b2 += x[2] * b[2]
		b3 += x[3] * b[3]
		x, a, b = x[4:], a[4:], b[4:]
	}
	if len(x) >= 2 && len(a) >= 2 && len(b) >= 2 {
		a0 += x[0] * a[0]
		a1 += x[1] * a[1]
		b0 += x[0] * b[0]
		b1 += x[1] * b[1]
		x, a, b = x[2:], a[2:], b[2:]
	}
	if len(x) >= 1 && len(a) >= 1 && len(b) >= 1 {
		a0 += x[0] * a[0]
		b0 += x[0] * b[0]
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

// pvec sets pi = P x for the exactly symmetric n×n row-major P and returns
// xᵀπ and xᵀθ, computed as dot2 computes them, and Σ|π[i]| and Σ|θ[i]|
// with the same partial sums (the assembly in the same pass, saving a call
// and a walk over π): enough to bound θ + π·g without a second pass.
//
// Operation order (shared with the assembly): for each c, one fused
// multiply-add chain over the even j = 0, 2, 4, … of x[j]·P[j][c], one over
// the odd j, then their sum. The assembly walks the rows of P (P[j][c] for
// consecutive c), the Go code the row c (P[c][j] = P[j][c]).
func pvec(n int, P, x, theta, pi []float64) (xpi, xtheta, api, atheta float64) {
	if useAVX2 && n >= 4 {
		return pvecAVX2(n, &P[:n*n][0], &x[:n][0], &theta[:n][0], &pi[:n][0])
	}
	pvecGo(n, P, x, pi)
	xpi, xtheta = dot2(x[:n], pi[:n], theta[:n])
	api, atheta = abs2(pi[:n], theta[:n])
	return xpi, xtheta, api, atheta
}

// abs2 returns (Σ |a[i]|, Σ |b[i]|) for len(a) ≤ len(b), each with the
// partial sums of dot.
func abs2(a, b []float64) (sa, sb float64) {
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	for len(a) >= 4 && len(b) >= 4 {
		a0 += math.Abs(a[0])
		a1 += math.Abs(a[1])
		a2 += math.Abs(a[2])
		a3 += math.Abs(a[3])
		b0 += math.Abs(b[0])
		b1 += math.Abs(b[1])
		b2 += math.Abs(b[2])
		b3 += math.Abs(b[3])
		a, b = a[4:], b[4:]
	}
	if len(a) >= 2 && len(b) >= 2 {
		a0 += math.Abs(a[0])
		a1 += math.Abs(a[1])
		b0 += math.Abs(b[0])
		b1 += math.Abs(b[1])
		a, b = a[2:], b[2:]
	}
	if len(a) >= 1 && len(b) >= 1 {
		a0 += math.Abs(a[0])
		b0 += math.Abs(b[0])
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}

func pvecGo(n int, P, x, pi []float64) {
	P = P[:n*n]
	x = x[:n]
	pi = pi[:n]
	if !useFMA {
		for c := range pi {
			row := P[c*n : c*n+n]
			row = row[:len(x)]
			var e, o float64
			j := 0
			for ; j+2 <= len(x); j += 2 {
				e += x[j] * row[j]
				o += x[j+1] * row[j+1]
			}
			if j < len(x) {
				e += x[j] * row[j]
			}
			pi[c] = e + o
		}
		return
	}
	c := 0
	for ; c+2 <= n; c += 2 { // two rows at a time, for four independent chains
		r0 := P[c*n : c*n+n]
		r1 := P[(c+1)*n : (c+1)*n+n]
		r0 = r0[:len(x)]
		r1 = r1[:len(x)]
		var e0, o0, e1, o1 float64
		j := 0
		for ; j+2 <= len(x); j += 2 {
			e0 = math.FMA(x[j], r0[j], e0)
			o0 = math.FMA(x[j+1], r0[j+1], o0)
			e1 = math.FMA(x[j], r1[j], e1)
			o1 = math.FMA(x[j+1], r1[j+1], o1)
		}
		if j < len(x) {
			e0 = math.FMA(x[j], r0[j], e0)
			e1 = math.FMA(x[j], r1[j], e1)
		}
		pi[c] = e0 + o0
		pi[c+1] = e1 + o1
	}
	if c < n {
		row := P[c*n : c*n+n]
		row = row[:len(x)]
		var e, o float64
		j := 0
		for ; j+2 <= len(x); j += 2 {
			e = math.FMA(x[j], row[j], e)
			o = math.FMA(x[j+1], row[j+1], o)
		}
		if j < len(x) {
			e = math.FMA(x[j], row[j], e)
		}
		pi[c] = e + o
	}
}

// stepSum returns Σ (θ[i] + π[i]·g): it is finite exactly when every
// θ[i] + π[i]·g is, unless the sum itself overflows. The update needs it
// only when the bound from pvec's sums of magnitudes is not finite.
func stepSum(theta, pi []float64, g float64) float64 {
	var s float64
	for i, t := range theta {
		s += t + pi[i]*g
	}
	return s
}

// pupdate sets θ[i] += π[i]·g (a multiply, then an add: the value that
// stepSum sums), then v = π·s in place of π, and P[i*n+j] =
// fma(−v[i], v[j], P[i*n+j]·invLambda), i.e. P/λ − vvᵀ = (P − k πᵀ)/λ
// with s = 1/√(κλ), for every i, j, in place: each entry depends only on
// itself and on v. The fused multiply-add subtracts the exact product
// v[i]·v[j], which does not depend on the order of i and j, so a symmetric
// P stays exactly symmetric; and it costs two operations an entry, where
// (π[i]·π[j])·c, symmetric too, costs three. It returns the new trace,
// summed in index order (as Model.PTrace sums it), and Σ x[i]²·P[i][i].
func pupdate(n int, P, pi, x, theta []float64, invLambda, s, g float64) (trace, sx float64) {
	if useAVX2 && n >= 4 {
		return pupdateAVX2(n, &P[:n*n][0], &pi[:n][0], &x[:n][0], &theta[:n][0], invLambda, s, g)
	}
	return pupdateGo(n, P, pi, x, theta, invLambda, s, g)
}

func pupdateGo(n int, P, pi, x, theta []float64, invLambda, s, g float64) (trace, sx float64) {
	P = P[:n*n]
	pi = pi[:n]
	x = x[:n]
	theta = theta[:n]
	for i, t := range theta {
		theta[i] = t + pi[i]*g
		pi[i] *= s
	}
	fma := useFMA
	for i, vi := range pi {
		row := P[i*n : i*n+n]
		row = row[:len(pi)]
		if fma {
			for j, vj := range pi {
				row[j] = math.FMA(-vi, vj, row[j]*invLambda)
			}
		} else {
			// Without FMA: the rounded vi·vj is still symmetric in i and j.
			for j, vj := range pi {
				row[j] = row[j]*invLambda - vi*vj
			}
		}
		d := row[i]
		trace += d
		sx += x[i] * x[i] * d
	}
	return trace, sx
}
