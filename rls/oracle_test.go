package rls

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// closedForm is the test oracle of docs/design.md, computed with gonum and
// independently of the recursive code:
//
//	R_N = λᴺ P₀⁻¹ + Σᵢ λᴺ⁻ⁱ xᵢ xᵢᵀ = λᴺ/δ·I + Xᵀ W X,   W = diag(λᴺ⁻¹ … λ⁰)
//	θ_N = R_N⁻¹ Xᵀ W y,   P_N = R_N⁻¹.
func closedForm(t testing.TB, spec Spec, xs [][]float64, ys []float64) (theta, P *mat.Dense) {
	t.Helper()
	N, n := len(xs), len(xs[0])
	X := mat.NewDense(N, n, nil)
	WX := mat.NewDense(N, n, nil)
	Wy := mat.NewVecDense(N, nil)
	for i := range xs {
		w := math.Pow(spec.Lambda, float64(N-1-i))
		X.SetRow(i, xs[i])
		for j, v := range xs[i] {
			WX.Set(i, j, w*v)
		}
		Wy.SetVec(i, w*ys[i])
	}
	var XtWX mat.Dense
	XtWX.Mul(X.T(), WX)
	R := mat.NewSymDense(n, nil)
	prior := math.Pow(spec.Lambda, float64(N)) / spec.Delta
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			// Symmetrise: the two products are equal up to rounding.
			v := (XtWX.At(i, j) + XtWX.At(j, i)) / 2
			if i == j {
				v += prior
			}
			R.SetSym(i, j, v)
		}
	}
	var rhs mat.VecDense
	rhs.MulVec(X.T(), Wy)
	var ch mat.Cholesky
	if !ch.Factorize(R) {
		t.Fatalf("oracle: R_N not positive definite")
	}
	theta = mat.NewDense(n, 1, nil)
	if err := ch.SolveTo(theta, &rhs); err != nil {
		t.Fatalf("oracle: solve: %v", err)
	}
	var inv mat.SymDense
	if err := ch.InverseTo(&inv); err != nil {
		t.Fatalf("oracle: inverse: %v", err)
	}
	P = mat.DenseCopyOf(&inv)
	return theta, P
}

// relErr returns max|got − want| / max|want|.
func relErr(got []float64, want mat.Matrix) float64 {
	r, c := want.Dims()
	var num, den float64
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			num = math.Max(num, math.Abs(got[i*c+j]-want.At(i, j)))
			den = math.Max(den, math.Abs(want.At(i, j)))
		}
	}
	if den == 0 {
		return num
	}
	return num / den
}

// gaussianData returns N samples of y = xᵀθ* + σ·noise with x ~ N(0, I).
func gaussianData(rng *rand.Rand, N, n int, sigma float64) (xs [][]float64, ys []float64, truth []float64) {
	truth = make([]float64, n)
	for i := range truth {
		truth[i] = rng.NormFloat64()
	}
	xs = make([][]float64, N)
	ys = make([]float64, N)
	for i := range xs {
		x := make([]float64, n)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		xs[i] = x
		ys[i] = dotRef(x, truth) + sigma*rng.NormFloat64()
	}
	return xs, ys, truth
}

func dotRef(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestUpdateMatchesClosedForm(t *testing.T) {
	const tol = 1e-9
	for _, lambda := range []float64{1, 0.99, 0.9} {
		for _, n := range []int{1, 3, 10, 50} {
			N := 400
			if lambda == 0.9 {
				N = 120 // λᴺ stays well above the rounding level
			}
			for _, delta := range []float64{1, 10} {
				spec := Spec{Name: "m", Lambda: lambda, Delta: delta}
				t.Run(fmt.Sprintf("lambda=%g/n=%d/delta=%g", lambda, n, delta), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(n), uint64(lambda*1000+delta)))
					xs, ys, _ := gaussianData(rng, N, n, 0.1)
					m := NewModel(spec, n)
					check := map[int]bool{1: true, 2: true, n: true, n + 1: true, N / 2: true, N: true}
					maxTrace := 0.0
					for i := range xs {
						if _, err := m.Update(xs[i], ys[i]); err != nil {
							t.Fatalf("sample %d: %v", i, err)
						}
						maxTrace = math.Max(maxTrace, m.PTrace())
						if !check[i+1] {
							continue
						}
						theta, P := closedForm(t, spec, xs[:i+1], ys[:i+1])
						if e := relErr(m.Theta, theta); e > tol {
							t.Errorf("after %d samples: theta relative error %.3g > %g", i+1, e, tol)
						}
						if e := relErr(m.P, P); e > tol {
							t.Errorf("after %d samples: P relative error %.3g > %g", i+1, e, tol)
						}
					}
					// The closed form only holds while the windup cap is not engaged.
					if maxTrace > m.TraceCap()/10 {
						t.Errorf("trace reached %g, too close to the cap %g", maxTrace, m.TraceCap())
					}
				})
			}
		}
	}
}
