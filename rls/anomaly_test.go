package rls

import (
	"flag"
	"math"
	"math/rand/v2"
	"testing"
)

var long = flag.Bool("long", false, "run the calibration streams at their full length")

// noise draws one error of a named family with unit scale.
func noise(rng *rand.Rand, family string) float64 {
	switch family {
	case "gaussian":
		return rng.NormFloat64()
	case "student-t3":
		// N/√(χ²₃/3).
		c := 0.0
		for range 3 {
			v := rng.NormFloat64()
			c += v * v
		}
		return rng.NormFloat64() / math.Sqrt(c/3)
	case "laplace":
		return rng.ExpFloat64() - rng.ExpFloat64()
	case "lognormal":
		// Skewed, centred: exp(N) − e^(1/2).
		return math.Exp(rng.NormFloat64()) - math.Exp(0.5)
	}
	panic(family)
}

// TestAnomalyRateCalibrated: on streams with Gaussian, Student-t (ν = 3),
// Laplace and skewed log-normal noise the rate of anomalous samples is
// within a factor 2 of AnomalyRate, for every default model; 95 % intervals
// cover 0.95 ± 0.01 on the Gaussian stream. 2·10⁵ samples per stream, 10⁶
// with -long.
func TestAnomalyRateCalibrated(t *testing.T) {
	const rate = 1e-4
	samples := 200_000
	if *long {
		samples = 1_000_000
	}
	q := IntervalQuantile(0.95)
	for i, family := range []string{"gaussian", "student-t3", "laplace", "lognormal"} {
		t.Run(family, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(i+1), 25))
			sc := &Scoring{AnomalyRate: rate, DriftOff: true}
			b := NewBank(DefaultSpecs(), 3)
			x := make([]float64, 3)
			anomalous := make([]int, len(b.Models))
			covered := make([]int, len(b.Models))
			tested := 0
			for k := range samples {
				x[0], x[1], x[2] = rng.NormFloat64(), rng.NormFloat64(), 1
				y := x[0] - 2*x[1] + 3 + noise(rng, family)
				if err := b.UpdateScored(x, y, sc); err != nil {
					t.Fatal(err)
				}
				if k < 1000 {
					continue
				}
				tested++
				for j, m := range b.Models {
					s := m.LastScore()
					if s.Anomaly {
						anomalous[j]++
					}
					if lo, hi := s.Interval(q); y >= lo && y <= hi {
						covered[j]++
					}
				}
			}
			for j, m := range b.Models {
				got := float64(anomalous[j]) / float64(tested)
				t.Logf("%s %s: rate %.3g (target %g), %d episodes, threshold %.3g, coverage %.4f",
					family, m.Name, got, rate, m.Watch.Episodes, m.LastScore().Threshold, float64(covered[j])/float64(tested))
				if got > 2*rate || got < rate/2 {
					t.Errorf("%s %s: anomaly rate %.3g, want within ×2 of %g", family, m.Name, got, rate)
				}
				if family == "gaussian" {
					if c := float64(covered[j]) / float64(tested); math.Abs(c-0.95) > 0.01 {
						t.Errorf("%s: coverage %.4f, want 0.95 ± 0.01", m.Name, c)
					}
				}
			}
		})
	}
}

// TestConstantThenNoise: 5,000 samples of an exactly constant output, then
// N(0, σ²) noise: fewer than 3 episodes in the first 1,000 noisy samples.
func TestConstantThenNoise(t *testing.T) {
	for _, c := range []struct{ level, sigma float64 }{{20, 1}, {20, 0.01}, {1e6, 3}, {-5, 0.5}, {0, 1}} {
		rng := rand.New(rand.NewPCG(7, 25))
		b := NewBank(DefaultSpecs(), 2)
		x := make([]float64, 2)
		for k := range 6000 {
			x[0], x[1] = rng.NormFloat64(), 1
			y := c.level
			if k >= 5000 {
				y += c.sigma * rng.NormFloat64()
			}
			if err := b.Update(x, y); err != nil {
				t.Fatal(err)
			}
			if k == 4999 {
				for _, m := range b.Models {
					m.Watch.Episodes = 0
				}
			}
		}
		for _, m := range b.Models {
			t.Logf("level %g σ %g %s: %d episodes", c.level, c.sigma, m.Name, m.Watch.Episodes)
			if m.Watch.Episodes >= 3 {
				t.Errorf("level %g σ %g %s: %d episodes in the first 1,000 noisy samples, want < 3",
					c.level, c.sigma, m.Name, m.Watch.Episodes)
			}
		}
	}
}

// TestRobust: with 1 % gross outliers of 100σ, θ's error with Robust (the
// root mean square of |θ − θ*| over the stream after a start) is within
// 1.5× of the clean run's.
func TestRobust(t *testing.T) {
	thetaErr := func(pOut float64, robust bool) []float64 {
		s := newStream(3, 4, 1)
		s.pOut, s.outSize = pOut, 100
		b := NewBank(DefaultSpecs(), 4)
		sc := &Scoring{Robust: robust, DriftOff: true}
		errs := make([]float64, len(b.Models))
		want := []float64{1, 0, 0, 1}
		const samples, from = 50_000, 10_000
		for k := range samples {
			x, y, _ := s.next()
			if err := b.UpdateScored(x, y, sc); err != nil {
				t.Fatal(err)
			}
			if k < from {
				continue
			}
			for i, m := range b.Models {
				for j, v := range m.Theta {
					errs[i] += (v - want[j]) * (v - want[j])
				}
			}
		}
		for i := range errs {
			errs[i] = math.Sqrt(errs[i] / (samples - from))
		}
		return errs
	}
	clean, robust, plain := thetaErr(0, false), thetaErr(0.01, true), thetaErr(0.01, false)
	for i, name := range []string{"mod1", "mod2"} {
		t.Logf("%s: |θ − θ*| clean %.3g, outliers robust %.3g, outliers plain %.3g", name, clean[i], robust[i], plain[i])
		if robust[i] > 1.5*clean[i] {
			t.Errorf("%s: θ error %.3g with 1 %% outliers and Robust, clean %.3g: want within 1.5×", name, robust[i], clean[i])
		}
	}
}

// TestEpisodes: a burst of three gross outliers, two normal samples apart
// at most, is one episode: opened at its first sample, closed at the
// EpisodeGap-th normal sample after its last, with the count and the peak
// |AZ|; the episode raises the fitted threshold once, by one step.
func TestEpisodes(t *testing.T) {
	s := newStream(9, 3, 1)
	m := NewModel(Spec{Name: "m", Lambda: 1, Delta: 10}, 3)
	for range 2000 {
		x, y, _ := s.next()
		if _, err := m.Update(x, y); err != nil {
			t.Fatal(err)
		}
	}
	tail, episodes := m.Watch.Tail, m.Watch.Episodes
	var peak float64
	var opened, closed []int
	for k := range 40 {
		x, y, _ := s.next()
		if k == 5 || k == 6 || k == 9 {
			y += 50
		}
		if _, err := m.Update(x, y); err != nil {
			t.Fatal(err)
		}
		sc := m.LastScore()
		if sc.Anomaly {
			peak = math.Max(peak, math.Abs(sc.AZ))
		}
		if sc.Opened {
			opened = append(opened, k)
		}
		if sc.Closed {
			closed = append(closed, k)
			if sc.Count != 3 || sc.Peak != peak {
				t.Errorf("closed with count %d, peak %v; want 3, %v", sc.Count, sc.Peak, peak)
			}
		}
	}
	if len(opened) != 1 || opened[0] != 5 || len(closed) != 1 || closed[0] != 9+EpisodeGap {
		t.Errorf("opened at %v, closed at %v; want [5], [%d]", opened, closed, 9+EpisodeGap)
	}
	// One step up on opening, then a down step of ThresholdStep·rate/2
	// on each normal sample: at most the largest (earliest) up-step.
	maxUp := math.Exp(ThresholdStep * math.Sqrt(EarlySteps))
	if m.Watch.Episodes != episodes+1 || m.Watch.Open != 0 || !(m.Watch.Tail > tail*math.Exp(ThresholdStep*0.99)) || m.Watch.Tail > tail*maxUp {
		t.Errorf("after: %+v (tail before %v)", m.Watch, tail)
	}
}

// TestSpreadTest: errors whose spread triples for 300 samples, or that
// stop (a sensor stuck at its last value), open a spread episode within
// 100 samples though few of them, or none, are beyond the error test's
// threshold; the clean stream before them opens none.
func TestSpreadTest(t *testing.T) {
	for _, c := range []struct {
		name string
		sd   float64 // the noise's spread from sample 5,000 on (1 before)
	}{{"wider", 3}, {"stuck", 0}} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 25))
			b := NewBank(DefaultSpecs(), 2)
			x := make([]float64, 2)
			first := map[string]int{}
			for k := range 5300 {
				x[0], x[1] = rng.NormFloat64(), 1
				sd := 1.0
				if k >= 5000 {
					sd = c.sd
				}
				y := 2*x[0] + 5 + sd*rng.NormFloat64()
				if err := b.Update(x, y); err != nil {
					t.Fatal(err)
				}
				for _, m := range b.Models {
					s := m.LastScore()
					if s.Opened && k < 5000 {
						t.Errorf("%s: episode at clean sample %d (az %.3g, sz %.3g)", m.Name, k, s.AZ, s.SZ)
					}
					if _, ok := first[m.Name]; !ok && s.Spread && k >= 5000 {
						first[m.Name] = k - 5000
					}
				}
			}
			for _, m := range b.Models {
				d, ok := first[m.Name]
				t.Logf("%s: spread test after %d samples (found %v)", m.Name, d, ok)
				if !ok || d > 100 {
					t.Errorf("%s: spread test fired %v after %d samples, want within 100", m.Name, ok, d)
				}
			}
		})
	}
}

// TestCleanStreamNoEpisodes: at the default budget (10⁻⁷), 40 sensors of
// dimension 10 with Gaussian noise, 20,000 samples each (8·10⁵ per model),
// open at most one false episode per model; neither test's statistic has a
// tail much heavier than the Gaussian one its threshold starts from.
func TestCleanStreamNoEpisodes(t *testing.T) {
	opened := map[string]int{}
	for sensor := range 40 {
		rng := rand.New(rand.NewPCG(uint64(sensor), 25))
		b := NewBank(DefaultSpecs(), 10)
		x := make([]float64, 10)
		for range 20000 {
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			if err := b.Update(x, x[0]+x[9]+0.1*rng.NormFloat64()); err != nil {
				t.Fatal(err)
			}
			for _, m := range b.Models {
				if s := m.LastScore(); s.Opened {
					opened[m.Name]++
					t.Logf("sensor %d %s: episode (az %.3g, sz %.3g, spread %v)", sensor, m.Name, s.AZ, s.SZ, s.Spread)
				}
			}
		}
	}
	for name, n := range opened {
		if n > 1 {
			t.Errorf("%s: %d false episodes in 8·10⁵ clean samples, want at most 1", name, n)
		}
	}
}
