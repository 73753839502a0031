package rlstest_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
)

func TestOracleMatchesModel(t *testing.T) {
	for _, spec := range append(rls.DefaultSpecs(), rls.Spec{Name: "fast", Lambda: 0.9, Delta: 2}) {
		for _, n := range []int{1, 4, 20} {
			t.Run(fmt.Sprintf("%s/n=%d", spec, n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(n), 1))
				const N = 150
				xs := make([][]float64, N)
				ys := make([]float64, N)
				m := rls.NewModel(spec, n)
				for i := range xs {
					xs[i] = make([]float64, n)
					for j := range xs[i] {
						xs[i][j] = rng.NormFloat64()
					}
					ys[i] = xs[i][0] - 0.5*xs[i][n-1] + 0.1*rng.NormFloat64()
					if _, err := m.Update(xs[i], ys[i]); err != nil {
						t.Fatal(err)
					}
				}
				theta, P, err := rlstest.Oracle(spec, xs, ys)
				if err != nil {
					t.Fatal(err)
				}
				if e := rel(m.Theta, theta); e > 1e-9 {
					t.Errorf("theta relative error %.3g", e)
				}
				if e := rel(m.P, P); e > 1e-9 {
					t.Errorf("P relative error %.3g", e)
				}
			})
		}
	}
}

func TestOracleErrors(t *testing.T) {
	spec := rls.DefaultSpecs()[0]
	if _, _, err := rlstest.Oracle(spec, nil, nil); err == nil {
		t.Error("no samples accepted")
	}
	if _, _, err := rlstest.Oracle(spec, [][]float64{{1}}, []float64{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, _, err := rlstest.Oracle(spec, [][]float64{{1}, {1, 2}}, []float64{1, 2}); err == nil {
		t.Error("ragged xs accepted")
	}
	if _, _, err := rlstest.Oracle(rls.Spec{Name: "x", Lambda: 2, Delta: 1}, [][]float64{{1}}, []float64{1}); err == nil {
		t.Error("bad spec accepted")
	}
}

func rel(got, want []float64) float64 {
	var num, den float64
	for i := range want {
		num = math.Max(num, math.Abs(got[i]-want[i]))
		den = math.Max(den, math.Abs(want[i]))
	}
	return num / den
}
