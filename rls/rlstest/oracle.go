// Package rlstest holds test helpers for code that uses package rls: a
// closed-form answer to compare recursive estimates against.
package rlstest

import (
	"errors"
	"fmt"
	"math"

	"github.com/streamrls/streamrls/rls"
	"gonum.org/v1/gonum/mat"
)

// Oracle returns the state an rls.Model built with spec must reach after the
// samples (xs[i], ys[i]), i = 1..N, computed in closed form with gonum and
// independently of the recursive code: the regularised, exponentially
// weighted least-squares solution
//
//	R_N = λᴺ P₀⁻¹ + Σᵢ λᴺ⁻ⁱ xᵢ xᵢᵀ,   P_N = R_N⁻¹,   θ_N = R_N⁻¹ Σᵢ λᴺ⁻ⁱ xᵢ yᵢ
//
// with P₀ = δ·I (θ₀ = 0). P is returned n×n row-major like rls.Model.P. It
// holds as long as the model's covariance windup cap never engaged (always
// for λ = 1). Compare with a relative tolerance: both sides carry rounding
// errors that grow with the condition number of R_N.
func Oracle(spec rls.Spec, xs [][]float64, ys []float64) (theta []float64, P []float64, err error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	if len(xs) != len(ys) {
		return nil, nil, fmt.Errorf("rlstest: %d x vectors but %d y values", len(xs), len(ys))
	}
	if len(xs) == 0 {
		return nil, nil, errors.New("rlstest: no samples (the dimension is unknown)")
	}
	n := len(xs[0])
	N := len(xs)
	lam := spec.Lambda
	R := mat.NewSymDense(n, nil)
	prior := math.Pow(lam, float64(N)) / spec.Delta
	for i := 0; i < n; i++ {
		R.SetSym(i, i, prior)
	}
	rhs := mat.NewVecDense(n, nil)
	for i, x := range xs {
		if len(x) != n {
			return nil, nil, fmt.Errorf("rlstest: sample %d has dimension %d, sample 0 has %d", i, len(x), n)
		}
		w := math.Pow(lam, float64(N-1-i)) // λ^(N−i) for 1-based i
		xv := mat.NewVecDense(n, append([]float64(nil), x...))
		R.SymRankOne(R, w, xv)
		rhs.AddScaledVec(rhs, w*ys[i], xv)
	}
	var ch mat.Cholesky
	if ok := ch.Factorize(R); !ok {
		return nil, nil, errors.New("rlstest: R_N is not positive definite")
	}
	var th mat.VecDense
	if err := ch.SolveVecTo(&th, rhs); err != nil {
		return nil, nil, fmt.Errorf("rlstest: solve: %w", err)
	}
	var inv mat.SymDense
	if err := ch.InverseTo(&inv); err != nil {
		return nil, nil, fmt.Errorf("rlstest: inverse: %w", err)
	}
	theta = make([]float64, n)
	for i := range theta {
		theta[i] = th.AtVec(i)
	}
	P = make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			P[i*n+j] = inv.At(i, j)
		}
	}
	return theta, P, nil
}
