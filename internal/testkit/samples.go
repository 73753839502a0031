package testkit

import (
	"math"
	"testing"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
)

// SensorSamples regenerates what emitter.Run sends for each sensor with
// DefaultTheta and noise 0.1: the emitter's per-sensor random streams do not
// depend on interleaving, so sensor i's samples are xs[i], ys[i] in order.
func SensorSamples(sensors, dim int, count int64, seed uint64) (xs [][][]float64, ys [][]float64) {
	xs, ys, _ = Emitted(sensors, dim, count, seed, emitter.Drift{}, emitter.Outliers{})
	return xs, ys
}

// Emitted is SensorSamples with --drift and --outliers: outlier[i][k] says
// whether sensor i's k-th sample got an outlier.
func Emitted(sensors, dim int, count int64, seed uint64, drift emitter.Drift, out emitter.Outliers) (xs [][][]float64, ys [][]float64, outlier [][]bool) {
	gen := emitter.NewGenerator(sensors, dim, emitter.DefaultTheta(dim), 0.1, seed).WithDrift(drift).WithOutliers(out)
	xs, ys, outlier = make([][][]float64, sensors), make([][]float64, sensors), make([][]bool, sensors)
	for k := int64(0); k < count; k++ {
		i := int(k % int64(sensors))
		x := make([]float64, dim)
		s := gen.Next(i, x)
		xs[i] = append(xs[i], x)
		ys[i] = append(ys[i], s.Y)
		outlier[i] = append(outlier[i], gen.Outlier(i))
	}
	return xs, ys, outlier
}

// RelErr is max|got−want| / max|want|: the relative error of a vector.
func RelErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	num, den := 0.0, 0.0
	for i := range want {
		num = math.Max(num, math.Abs(got[i]-want[i]))
		den = math.Max(den, math.Abs(want[i]))
	}
	return num / math.Max(den, 1e-300)
}

// MatchOracle fails the test unless theta and p are within tol (relative) of
// the closed-form solution for spec on xs, ys; what names the model in errors.
func MatchOracle(t testing.TB, what string, spec rls.Spec, xs [][]float64, ys []float64, theta, p []float64, tol float64) {
	t.Helper()
	wantTheta, wantP, err := rlstest.Oracle(spec, xs, ys)
	if err != nil {
		t.Fatal(err)
	}
	if e := RelErr(theta, wantTheta); e > tol {
		t.Errorf("%s: θ off the oracle by %.3g relative", what, e)
	}
	if e := RelErr(p, wantP); e > tol {
		t.Errorf("%s: P off the oracle by %.3g relative", what, e)
	}
}
