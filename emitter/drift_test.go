package emitter

import (
	"math"
	"reflect"
	"testing"
)

func TestParseDrift(t *testing.T) {
	good := map[string]Drift{
		"":                {},
		"none":            {},
		"jump:500":        {Kind: DriftJump, After: 500},
		"wander:0.01":     {Kind: DriftWander, Sigma: 0.01},
		"wander:1e-3:200": {Kind: DriftWander, Sigma: 1e-3, After: 200},
	}
	for in, want := range good {
		got, err := ParseDrift(in)
		if err != nil || got != want {
			t.Errorf("ParseDrift(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := ParseDrift(got.String()); err != nil || again != got {
			t.Errorf("%q: String() %q does not parse back: %+v %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{"jump", "jump:0", "jump:-3", "jump:x", "jump:1:2", "wander", "wander:0", "wander:-1",
		"wander:NaN", "wander:Inf", "wander:0.1:x", "wobble:3", "none:1"} {
		if d, err := ParseDrift(in); err == nil {
			t.Errorf("ParseDrift(%q) = %+v, want an error", in, d)
		}
	}
}

// TestGeneratorDrift checks the documented θ*(k) of each form against the
// samples themselves: with no noise y = xᵀθ*(k) exactly, so the θ* a sample
// was drawn with is recomputed from the sample, independently of the walk.
func TestGeneratorDrift(t *testing.T) {
	const sensors, dim, n = 3, 4, 600
	base := []float64{1, 0, -0.5, 1}
	for _, d := range []Drift{{}, {Kind: DriftJump, After: 250}, {Kind: DriftWander, Sigma: 0.05, After: 100}} {
		plain := NewGenerator(sensors, dim, base, 0, 7)
		gen := NewGenerator(sensors, dim, base, 0, 7).WithDrift(d)
		truth := &Truth{Sensors: sensors, Theta: base, Drift: d, Seed: 7}
		for i := 0; i < sensors; i++ {
			var ks []uint64
			var stars [][]float64
			prev := append([]float64(nil), base...)
			for k := uint64(1); k <= n; k++ {
				x, xp := make([]float64, dim), make([]float64, dim)
				s := gen.Next(i, x)
				plain.Next(i, xp)
				if !reflect.DeepEqual(x, xp) {
					t.Fatalf("%v sensor %d sample %d: drift changed x", d, i, k)
				}
				star := append([]float64(nil), gen.ThetaStar(i)...)
				y := 0.0
				for j := range x {
					y += x[j] * star[j]
				}
				if math.Abs(y-s.Y) > 1e-12 {
					t.Fatalf("%v sensor %d sample %d: y %v, xᵀθ* %v", d, i, k, s.Y, y)
				}
				switch d.Kind {
				case DriftNone:
					if !reflect.DeepEqual(star, base) {
						t.Fatalf("no drift: θ* moved to %v", star)
					}
				case DriftJump:
					want := base
					if k > d.After {
						want = []float64{-1, 0, 0.5, -1}
					}
					if !reflect.DeepEqual(star, want) {
						t.Fatalf("jump sample %d: θ* %v, want %v", k, star, want)
					}
				case DriftWander:
					step := 0.0
					for j := range star {
						step = math.Max(step, math.Abs(star[j]-prev[j]))
					}
					if (k <= d.After) != (step == 0) || step > 6*d.Sigma {
						t.Fatalf("wander sample %d: step %v (σ %v, after %d)", k, step, d.Sigma, d.After)
					}
				}
				prev = star
				ks = append(ks, k)
				stars = append(stars, star)
			}
			// Truth replays the same θ*, in any order of questions.
			if got := truth.ThetaStar(SensorID(i), ks); !reflect.DeepEqual(got, stars) {
				t.Fatalf("%v sensor %d: Truth differs from the generator", d, i)
			}
			if got := truth.ThetaStar(SensorID(i), []uint64{n, 3, 0}); !reflect.DeepEqual(got, [][]float64{stars[n-1], stars[2], base}) {
				t.Fatalf("%v sensor %d: Truth out of order differs: %v", d, i, got)
			}
		}
		if truth.ThetaStar("0", []uint64{1}) != nil || truth.ThetaStar("4", []uint64{1}) != nil || truth.ThetaStar("01", []uint64{1}) != nil {
			t.Errorf("%v: θ* of a sensor the emitter does not send", d)
		}
	}
}

// TestTruthWanderFar checks the remembered states of a long walk: θ* far
// out is the same asked directly, after a nearer question, and again.
func TestTruthWanderFar(t *testing.T) {
	d := Drift{Kind: DriftWander, Sigma: 0.01}
	a := &Truth{Sensors: 2, Theta: DefaultTheta(3), Drift: d, Seed: 3}
	b := &Truth{Sensors: 2, Theta: DefaultTheta(3), Drift: d, Seed: 3}
	far := uint64(3*truthMark + 17)
	x := a.ThetaStar("2", []uint64{far})[0]
	b.ThetaStar("2", []uint64{truthMark + 5})
	y := b.ThetaStar("2", []uint64{far})[0]
	z := b.ThetaStar("2", []uint64{far})[0]
	if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(y, z) {
		t.Fatalf("θ*(%d): %v, %v, %v", far, x, y, z)
	}
	gen := NewGenerator(2, 3, DefaultTheta(3), 0.1, 3).WithDrift(d)
	buf := make([]float64, 3)
	for k := uint64(0); k < far; k++ {
		gen.Next(1, buf)
	}
	if !reflect.DeepEqual(gen.ThetaStar(1), x) {
		t.Fatalf("generator θ*(%d) %v, Truth %v", far, gen.ThetaStar(1), x)
	}
}
