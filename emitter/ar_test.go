package emitter

import (
	"math"
	"testing"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/setting"
)

// TestARStream: an AR stream's samples carry y alone, each drawn from the
// sensor's own previous values with θ*, and the default θ* is stationary.
func TestARStream(t *testing.T) {
	const p = 4
	theta := DefaultARTheta(p)
	sum := 0.0
	for _, a := range theta[:p] {
		sum += math.Abs(a)
	}
	if len(theta) != p+1 || theta[p] != 1 || sum >= 1 {
		t.Fatalf("DefaultARTheta(%d) = %v", p, theta)
	}
	gen := NewGenerator(2, 0, theta, 0, 1).WithAR(p)
	var ys []float64
	for k := range 50 {
		s := gen.Next(0, nil)
		if len(s.X) != 0 || s.Seq != int64(k) {
			t.Fatalf("sample %d: %+v", k, s)
		}
		want := theta[p]
		for j := 1; j <= p; j++ {
			if k-j >= 0 {
				want += theta[j-1] * ys[k-j]
			}
		}
		if math.Abs(s.Y-want) > 1e-12 {
			t.Fatalf("sample %d: y = %v, want %v", k, s.Y, want)
		}
		ys = append(ys, s.Y)
	}
	// Without noise it settles at the process's mean.
	if mean := 1 / (1 - (theta[0] + theta[1] + theta[2] + theta[3])); math.Abs(ys[49]-mean) > 1e-6 {
		t.Errorf("y settles at %v, want %v", ys[49], mean)
	}
}

func TestARConfig(t *testing.T) {
	for _, c := range []Config{
		{Sensors: 1, AR: -1, Batch: 1, Linger: 1},
		{Sensors: 1, AR: 2, Batch: 1, Linger: 1, Drift: Drift{Kind: DriftJump, After: 5}},
		{Sensors: 1, AR: 2, Batch: 1, Linger: 1, Theta: []float64{1, 2}},
	} {
		err := c.Validate()
		se, ok := err.(*setting.Error)
		if !ok || (se.Field != "AR" && se.Field != "Theta") {
			t.Errorf("%+v: %v, want a setting error of AR or Theta", c, err)
		}
	}
	c := Config{AR: 3}
	c.defaults()
	if c.Dim != 0 || len(c.Theta) != 4 || c.Format != codec.FormatJSON {
		t.Errorf("defaults of AR 3: dim %d, θ* %v", c.Dim, c.Theta)
	}
	if err := (&Config{Sensors: 1, AR: 3, Batch: 1, Linger: 1}).Validate(); err != nil {
		t.Error(err)
	}
}
