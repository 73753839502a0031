package emitter

import (
	"math"
	"strings"
	"testing"
)

// TestOutliers: a fraction P of samples get exactly ±SIZE·σ more than the
// same generator without outliers, the rest are unchanged, and the same seed
// gives the same outliers.
func TestOutliers(t *testing.T) {
	const sensors, dim, n = 3, 4, 40000
	o := Outliers{P: 0.01, Size: 10}
	plain := NewGenerator(sensors, dim, DefaultTheta(dim), 0.1, 5)
	with := NewGenerator(sensors, dim, DefaultTheta(dim), 0.1, 5).WithOutliers(o)
	again := NewGenerator(sensors, dim, DefaultTheta(dim), 0.1, 5).WithOutliers(o)
	x1, x2, x3 := make([]float64, dim), make([]float64, dim), make([]float64, dim)
	count := 0
	for k := range n {
		i := k % sensors
		a, b, c := plain.Next(i, x1), with.Next(i, x2), again.Next(i, x3)
		if b.Y != c.Y || with.Outlier(i) != again.Outlier(i) {
			t.Fatalf("sample %d: the same seed gave other outliers", k)
		}
		for j := range x1 {
			if x1[j] != x2[j] {
				t.Fatalf("sample %d: outliers changed x", k)
			}
		}
		d := b.Y - a.Y
		if with.Outlier(i) {
			count++
			if math.Abs(math.Abs(d)-1) > 1e-9 {
				t.Fatalf("sample %d: outlier error %v, want ±10·0.1", k, d)
			}
		} else if d != 0 {
			t.Fatalf("sample %d: y changed by %v without an outlier", k, d)
		}
	}
	// Binomial(40000, 0.01): mean 400, sd ≈ 20.
	if count < 320 || count > 480 {
		t.Errorf("%d outliers in %d samples, want about 400", count, n)
	}
}

func TestParseOutliers(t *testing.T) {
	for s, want := range map[string]Outliers{"none": {}, "": {}, "0.001:10": {P: 0.001, Size: 10}, "1:0": {P: 1}} {
		got, err := ParseOutliers(s)
		if err != nil || got != want {
			t.Errorf("ParseOutliers(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	for _, s := range []string{"0.1", "-0.1:3", "1.5:3", "0.1:-1", "0.1:inf", "x:1", "NaN:1"} {
		if _, err := ParseOutliers(s); err == nil || !strings.Contains(err.Error(), "outliers") {
			t.Errorf("ParseOutliers(%q): %v, want an error", s, err)
		}
	}
}
