//go:build amd64 && !purego

package rls

import "golang.org/x/sys/cpu"

// pvecAVX2 is pvec for n ≥ 4: pi[c] = Σ_j x[j]·p[j*n+c], xᵀπ, xᵀθ, Σ|π|
// and Σ|θ|.
//
//go:noescape
func pvecAVX2(n int, p, x, theta, pi *float64) (xpi, xtheta, api, atheta float64)

// pupdateAVX2 is pupdate for n ≥ 4.
//
//go:noescape
func pupdateAVX2(n int, p, pi, x, theta *float64, invLambda, s, gain float64) (trace, sx float64)

// hasFMA: on amd64, math.FMA compiles to a feature test and a possible call
// around every multiply-add, which makes the Go kernels much slower than
// with a plain multiply and add. So the Go kernels use it only where the
// assembly kernels run too, i.e. for n < 4, to give the same results.
func hasFMA() bool { return hasAVX2FMA() }

// hasAVX2FMA: golang.org/x/sys/cpu checks the CPU and that the OS saves the
// AVX registers.
func hasAVX2FMA() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }
