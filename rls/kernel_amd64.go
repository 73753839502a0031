//go:build amd64 && !purego

package rls

// pvecAVX2 is pvec for n ≥ 4: pi[c] = Σ_j x[j]·p[j*n+c], xᵀπ, xᵀθ, Σ|π|
// and Σ|θ|.
//
//go:noescape
func pvecAVX2(n int, p, x, theta, pi *float64) (xpi, xtheta, api, atheta float64)

// pupdateAVX2 is pupdate for n ≥ 4.
//
//go:noescape
func pupdateAVX2(n int, p, pi, x, theta *float64, invLambda, s, gain float64) (trace, sx float64)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

// cpuFeatures reports whether the CPU has FMA (with the OS saving the
// AVX registers), and AVX2 besides.
func cpuFeatures() (fma, avx2 bool) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 1 {
		return false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fmaBit, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fmaBit == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false, false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // SSE and AVX state enabled
		return false, false
	}
	if maxID < 7 {
		return true, false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2Bit = 1 << 5
	return true, ebx7&avx2Bit != 0
}

// hasFMA: on amd64, math.FMA compiles to a feature test and a possible call
// around every multiply-add, which makes the Go kernels much slower than
// with a plain multiply and add. So the Go kernels use it only where the
// assembly kernels run too, i.e. for n < 4, to give the same results.
func hasFMA() bool { return hasAVX2FMA() }

func hasAVX2FMA() bool { fma, avx2 := cpuFeatures(); return fma && avx2 }
