package rls

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withGoKernels runs f with the assembly kernels switched off and the Go
// kernels using fused multiply-adds, as on arm64.
func withGoKernels(f func()) {
	savedA, savedF := useAVX2, useFMA
	useAVX2, useFMA = false, true
	defer func() { useAVX2, useFMA = savedA, savedF }()
	f()
}

// withoutFMA runs f with the Go kernels that multiply and add separately.
func withoutFMA(f func()) {
	savedA, savedF := useAVX2, useFMA
	useAVX2, useFMA = false, false
	defer func() { useAVX2, useFMA = savedA, savedF }()
	f()
}

// TestKernelsMatchGo: the assembly kernels and the Go code give
// bit-identical results, for every shape of column chunking.
func TestKernelsMatchGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2/FMA kernels on this machine or build")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	sizes := []int{}
	for n := 1; n <= 40; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 63, 64, 65, 100, 101)
	for _, n := range sizes {
		P := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				v := rng.NormFloat64()
				P[i*n+j], P[j*n+i] = v, v
			}
		}
		x := make([]float64, n)
		u := make([]float64, n)
		th := make([]float64, n)
		for i := range x {
			x[i] = rng.NormFloat64()
			u[i] = rng.NormFloat64()
			th[i] = rng.NormFloat64()
		}
		piA, piG := make([]float64, n), make([]float64, n)
		dstA, dstG := append([]float64(nil), P...), append([]float64(nil), P...)
		thA, thG := append([]float64(nil), th...), append([]float64(nil), th...)
		vA, vG := append([]float64(nil), u...), append([]float64(nil), u...)
		const g, sc = -0.7, 0.55
		xpiA, xthA, apiA, athA := pvec(n, P, x, th, piA)
		trA, sxA := pupdate(n, dstA, vA, x, thA, 1/0.97, sc, g)
		var trG, sxG, xpiG, xthG, apiG, athG float64
		withGoKernels(func() {
			xpiG, xthG, apiG, athG = pvec(n, P, x, th, piG)
			trG, sxG = pupdate(n, dstG, vG, x, thG, 1/0.97, sc, g)
		})
		var st float64
		for i := range th {
			if want := th[i] + u[i]*g; math.Float64bits(thA[i]) != math.Float64bits(want) || math.Float64bits(thG[i]) != math.Float64bits(want) {
				t.Fatalf("n=%d: theta[%d] asm %v, Go %v, want %v", n, i, thA[i], thG[i], want)
			}
			if want := u[i] * sc; math.Float64bits(vA[i]) != math.Float64bits(want) || math.Float64bits(vG[i]) != math.Float64bits(want) {
				t.Fatalf("n=%d: v[%d] asm %v, Go %v, want %v", n, i, vA[i], vG[i], want)
			}
			st += thA[i]
		}
		if ss := stepSum(th, u, g); math.Abs(ss-st) > 1e-12*(1+math.Abs(st)) {
			t.Fatalf("n=%d: step sum %v, plain sum %v", n, ss, st)
		}
		if math.Float64bits(xpiA) != math.Float64bits(xpiG) || math.Float64bits(xthA) != math.Float64bits(xthG) {
			t.Fatalf("n=%d: xᵀπ, xᵀθ asm %v, %v, Go %v, %v", n, xpiA, xthA, xpiG, xthG)
		}
		if math.Float64bits(apiA) != math.Float64bits(apiG) || math.Float64bits(athA) != math.Float64bits(athG) {
			t.Fatalf("n=%d: Σ|π|, Σ|θ| asm %v, %v, Go %v, %v", n, apiA, athA, apiG, athG)
		}
		// And against plain sums (independent of the shared order).
		var xpi, xth, api, ath float64
		for i := range x {
			xpi += x[i] * piA[i]
			xth += x[i] * th[i]
			api += math.Abs(piA[i])
			ath += math.Abs(th[i])
		}
		if math.Abs(xpiA-xpi) > 1e-12*(1+math.Abs(xpi)) || math.Abs(xthA-xth) > 1e-12*(1+math.Abs(xth)) {
			t.Fatalf("n=%d: xᵀπ, xᵀθ %v, %v, plain sums %v, %v", n, xpiA, xthA, xpi, xth)
		}
		if math.Abs(apiA-api) > 1e-12*api || math.Abs(athA-ath) > 1e-12*ath {
			t.Fatalf("n=%d: Σ|π|, Σ|θ| %v, %v, plain sums %v, %v", n, apiA, athA, api, ath)
		}
		var tr float64
		for i := 0; i < n; i++ {
			tr += dstA[i*n+i]
		}
		if math.Float64bits(trA) != math.Float64bits(tr) || math.Float64bits(trG) != math.Float64bits(tr) {
			t.Fatalf("n=%d: trace asm %v, Go %v, of the result %v", n, trA, trG, tr)
		}
		if math.Abs(sxA-sxG) > 1e-12*math.Abs(sxG) {
			t.Fatalf("n=%d: Σx²d asm %v, Go %v", n, sxA, sxG)
		}
		for i := range piA {
			if math.Float64bits(piA[i]) != math.Float64bits(piG[i]) {
				t.Fatalf("n=%d: pi[%d] asm %v, Go %v", n, i, piA[i], piG[i])
			}
		}
		for i := range dstA {
			if math.Float64bits(dstA[i]) != math.Float64bits(dstG[i]) {
				t.Fatalf("n=%d: dst[%d] asm %v, Go %v", n, i, dstA[i], dstG[i])
			}
		}
		if !exactlySymmetric(n, dstA) {
			t.Fatalf("n=%d: asm result not symmetric", n)
		}
		// Reference values, computed plainly.
		for c := 0; c < n; c++ {
			var s float64
			for j := 0; j < n; j++ {
				s += P[j*n+c] * x[j]
			}
			if math.Abs(s-piA[c]) > 1e-12*(1+math.Abs(s)) {
				t.Fatalf("n=%d: pi[%d] = %v, want %v", n, c, piA[c], s)
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want := P[i*n+j]/0.97 - u[i]*u[j]*sc*sc
				if got := dstA[i*n+j]; math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
					t.Fatalf("n=%d: dst[%d][%d] = %v, want %v", n, i, j, got, want)
				}
			}
		}
	}
}

// TestGoKernels runs the closed-form comparison, the exact-symmetry run,
// the rejections and a windup run on the Go kernels too, with and without
// fused multiply-adds.
func TestGoKernels(t *testing.T) {
	for _, v := range []struct {
		name string
		with func(func())
	}{{"go", withGoKernels}, {"go-nofma", withoutFMA}} {
		v.with(func() {
			t.Run(v.name+"/closed form", TestUpdateMatchesClosedForm)
			t.Run(v.name+"/symmetry", TestPExactlySymmetricLongRun)
			t.Run(v.name+"/reject", TestRejectLeavesModelUnchanged)
			t.Run(v.name+"/windup", TestWindupCollinear)
		})
	}
	if !useAVX2 {
		return
	}
	// Whole models agree bit for bit across the two kernels.
	for _, n := range []int{3, 4, 10, 33} {
		rng := rand.New(rand.NewPCG(23, uint64(n)))
		xs, ys, _ := gaussianData(rng, 300, n, 0.1)
		a := NewModel(Spec{"m", 0.98, 5}, n)
		b := NewModel(Spec{"m", 0.98, 5}, n)
		for i := range xs {
			a.Update(xs[i], ys[i])
			withGoKernels(func() { b.Update(xs[i], ys[i]) })
		}
		if !sameBits(a, b) {
			t.Errorf("n=%d: models differ between asm and Go kernels", n)
		}
	}
}

func ExampleModel() {
	m := NewModel(Spec{Name: "mod2", Lambda: 0.99, Delta: 1}, 2)
	for i := 0; i < 2000; i++ {
		x := []float64{1, float64(i%7) - 3}
		m.Update(x, 2*x[0]-0.5*x[1])
	}
	fmt.Printf("θ = [%.3f %.3f], prediction %.3f\n", m.Theta[0], m.Theta[1], m.Predict([]float64{1, 2}))
	// Output: θ = [2.000 -0.500], prediction 1.000
}
