package emitter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
)

// DriftKind is how θ* changes while samples are generated.
type DriftKind int

// Drift kinds.
const (
	DriftNone   DriftKind = iota // θ* stays θ*₀
	DriftJump                    // θ* becomes −θ*₀ after After samples
	DriftWander                  // θ* is a Gaussian random walk after After samples
)

// Drift makes θ* move, per sensor, so that the forgetting factors have
// something to track. With θ*₀ the configured θ* and k = 1, 2, … the
// number of a sensor's sample:
//
//   - jump:N — θ*(k) = θ*₀ for k ≤ N and −θ*₀ (every coefficient's sign
//     flipped) for k > N.
//   - wander:SIGMA[:N] — θ*(k) = θ*₀ for k ≤ N (default N = 0) and
//     θ*(k) = θ*(k−1) + SIGMA·z_k for k > N, z_k ~ N(0, I) drawn from the
//     sensor's own drift stream (seeded by the seed and the sensor, apart from
//     the samples' stream, so x and the noise are the same with and
//     without drift).
//
// The zero value is no drift.
type Drift struct {
	Kind  DriftKind
	After uint64  // samples of each sensor before θ* moves
	Sigma float64 // wander: standard deviation of each step, per coefficient
}

// ParseDrift parses the --drift forms: "" or "none", "jump:N",
// "wander:SIGMA" and "wander:SIGMA:N".
func ParseDrift(s string) (Drift, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	switch parts[0] {
	case "", "none":
		if len(parts) > 1 {
			return Drift{}, fmt.Errorf("drift %q: \"none\" takes no arguments", s)
		}
		return Drift{}, nil
	case "jump":
		if len(parts) != 2 {
			return Drift{}, fmt.Errorf("drift %q: want jump:N (θ* flips sign after N samples per sensor)", s)
		}
		n, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil || n == 0 {
			return Drift{}, fmt.Errorf("drift %q: N %q: want a whole number ≥ 1", s, parts[1])
		}
		return Drift{Kind: DriftJump, After: n}, nil
	case "wander":
		if len(parts) != 2 && len(parts) != 3 {
			return Drift{}, fmt.Errorf("drift %q: want wander:SIGMA or wander:SIGMA:N", s)
		}
		sigma, err := strconv.ParseFloat(parts[1], 64)
		if err != nil || !(sigma > 0) || math.IsInf(sigma, 0) {
			return Drift{}, fmt.Errorf("drift %q: SIGMA %q: want a number > 0", s, parts[1])
		}
		d := Drift{Kind: DriftWander, Sigma: sigma}
		if len(parts) == 3 {
			if d.After, err = strconv.ParseUint(parts[2], 10, 64); err != nil {
				return Drift{}, fmt.Errorf("drift %q: N %q: want a whole number ≥ 0", s, parts[2])
			}
		}
		return d, nil
	}
	return Drift{}, fmt.Errorf("drift %q: want none, jump:N, wander:SIGMA or wander:SIGMA:N", s)
}

// String is the --drift form of d.
func (d Drift) String() string {
	switch d.Kind {
	case DriftJump:
		return fmt.Sprintf("jump:%d", d.After)
	case DriftWander:
		if d.After > 0 {
			return fmt.Sprintf("wander:%s:%d", strconv.FormatFloat(d.Sigma, 'g', -1, 64), d.After)
		}
		return "wander:" + strconv.FormatFloat(d.Sigma, 'g', -1, 64)
	}
	return "none"
}

// driftSalt separates a sensor's drift stream from its samples' stream.
const driftSalt = 0x9e3779b97f4a7c15

// walk is one sensor's θ*: θ*(k) for the k-th sample.
type walk struct {
	drift Drift
	base  []float64 // θ*₀
	theta []float64 // θ*(k)
	k     uint64
	src   *rand.PCG
	rng   *rand.Rand
}

func newWalk(d Drift, base []float64, seed uint64, sensor int) *walk {
	w := &walk{drift: d, base: base, theta: append([]float64(nil), base...)}
	if d.Kind == DriftWander {
		w.src = rand.NewPCG(seed^driftSalt, uint64(sensor)+1)
		w.rng = rand.New(w.src)
	}
	return w
}

// to advances the walk to the k-th sample (k ≥ w.k) and returns θ*(k); the
// slice is the walk's own and changes with the next call.
func (w *walk) to(k uint64) []float64 {
	switch w.drift.Kind {
	case DriftNone:
		w.k = k
		return w.base
	case DriftJump:
		w.k = k
		if k > w.drift.After {
			for j, v := range w.base {
				w.theta[j] = -v
			}
		} else {
			copy(w.theta, w.base)
		}
		return w.theta
	}
	for ; w.k < k; w.k++ {
		if w.k+1 > w.drift.After {
			for j := range w.theta {
				w.theta[j] += w.drift.Sigma * w.rng.NormFloat64()
			}
		}
	}
	return w.theta
}

func (w *walk) clone() *walk {
	c := *w
	c.theta = append([]float64(nil), w.theta...)
	if w.src != nil {
		src := *w.src
		c.src = &src
		c.rng = rand.New(c.src)
	}
	return &c
}

// Truth is θ* of every sensor of an emitter run without generating its
// samples: what the plots and the dashboard of `run` compare the models
// with. It implements api.Truth. Safe for concurrent use.
type Truth struct {
	Sensors int       // sensors "1".."Sensors"; 0: any positive ID
	Theta   []float64 // θ*₀
	Drift   Drift
	Seed    uint64

	mu    sync.Mutex
	marks map[int][]*walk // wander: the walk every truthMark samples
}

// truthMark is the spacing of a wander walk's remembered states: a lookup
// replays at most this many steps.
const truthMark = 4096

// NewTruth returns the θ* of an emitter configured like cfg (cfg's
// defaults applied).
func NewTruth(cfg Config) *Truth {
	cfg.defaults()
	return &Truth{Sensors: cfg.Sensors, Theta: cfg.Theta, Drift: cfg.Drift, Seed: cfg.Seed}
}

// sensorIndex is the 0-based index of a SensorID, or -1.
func (t *Truth) sensorIndex(id string) int {
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || strconv.Itoa(n) != id || (t.Sensors > 0 && n > t.Sensors) {
		return -1
	}
	return n - 1
}

// ThetaStar returns θ* of sensor after each of ns samples (ascending), that
// is the θ* its ns[i]-th sample was drawn with (θ*₀ for 0); nil for a
// sensor this emitter does not send.
func (t *Truth) ThetaStar(sensor string, ns []uint64) [][]float64 {
	i := t.sensorIndex(sensor)
	if i < 0 {
		return nil
	}
	out := make([][]float64, len(ns))
	if t.Drift.Kind != DriftWander {
		w := newWalk(t.Drift, t.Theta, t.Seed, i)
		for j, n := range ns {
			out[j] = append([]float64(nil), w.to(n)...)
		}
		return out
	}
	var w *walk
	for j, n := range ns {
		if w == nil || n < w.k || n-w.k > truthMark {
			w = t.mark(i, n)
		}
		out[j] = append([]float64(nil), w.to(n)...)
	}
	return out
}

// mark returns a private copy of sensor i's walk at the last remembered
// state at or before sample n, remembering states up to it.
func (t *Truth) mark(i int, n uint64) *walk {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.marks == nil {
		t.marks = map[int][]*walk{}
	}
	ms := t.marks[i]
	if len(ms) == 0 {
		ms = []*walk{newWalk(t.Drift, t.Theta, t.Seed, i)}
	}
	for uint64(len(ms))*truthMark <= n {
		w := ms[len(ms)-1].clone()
		w.to(uint64(len(ms)) * truthMark)
		ms = append(ms, w)
	}
	t.marks[i] = ms
	return ms[n/truthMark].clone()
}
