// Package emitter generates synthetic samples y = xᵀθ* + noise for a number
// of sensors and publishes them to the samples topic, one sample or one
// micro-batch per message, in any wire format.
package emitter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/setting"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/topology"
)

// DefaultTheta is θ* of the original notebook for dim 10: [1,0,…,0,1]. For
// another dim it is 1 at the first and last coefficient and 0 elsewhere.
func DefaultTheta(dim int) []float64 {
	th := make([]float64, dim)
	if dim > 0 {
		th[0], th[dim-1] = 1, 1
	}
	return th
}

// DefaultARTheta is θ* of an autoregressive stream of order p (Config.AR):
// the coefficients of y[t-1], …, y[t-p] alternate in sign and halve, from
// 0.45, so that their absolute values sum below 1 and the process is
// stationary, then the constant 1.
func DefaultARTheta(p int) []float64 {
	th := make([]float64, p+1)
	a := 0.45
	for k := range p {
		th[k] = a
		a *= -0.5
	}
	th[p] = 1
	return th
}

// SensorID is the key of the i-th sensor (0-based): "1", "2", ….
func SensorID(i int) string { return strconv.Itoa(i + 1) }

// Generator makes each sensor's sample sequence. Every sensor has its own
// random stream derived from the seed, so a sensor's samples do not depend
// on how the sensors are interleaved, and a test can regenerate them.
type Generator struct {
	Dim   int
	Theta []float64
	Noise float64 // standard deviation of the additive Gaussian noise
	rngs  []*rand.Rand
	seqs  []int64
	walks []*walk // θ* per sensor under drift (nil: Theta throughout)
	seed  uint64

	outliers  Outliers
	orngs     []*rand.Rand // per sensor, nil without outliers
	isOutlier []bool       // per sensor: its latest sample got one

	ar   int         // lag order of an autoregressive stream; 0: none
	lags [][]float64 // per sensor: its last ar values of y, newest first
}

// WithAR makes the stream autoregressive of order p (see Config.AR):
// samples carry y alone, drawn with Theta over the features y[t-1], …,
// y[t-p], 1 (the lags before a sensor's first sample are 0). Theta must
// have p+1 coefficients.
func (g *Generator) WithAR(p int) *Generator {
	g.ar, g.lags = p, nil
	if p > 0 {
		g.lags = make([][]float64, len(g.rngs))
		for i := range g.lags {
			g.lags[i] = make([]float64, p)
		}
	}
	return g
}

// NewGenerator returns a generator for sensors sensors.
func NewGenerator(sensors, dim int, theta []float64, noise float64, seed uint64) *Generator {
	g := &Generator{Dim: dim, Theta: theta, Noise: noise, rngs: make([]*rand.Rand, sensors), seqs: make([]int64, sensors), seed: seed}
	for i := range g.rngs {
		g.rngs[i] = rand.New(rand.NewPCG(seed, uint64(i)+1))
	}
	return g
}

// WithDrift makes θ* drift (see Drift); x and the noise stay the same.
func (g *Generator) WithDrift(d Drift) *Generator {
	g.walks = nil
	if d.Kind != DriftNone {
		g.walks = make([]*walk, len(g.rngs))
		for i := range g.walks {
			g.walks[i] = newWalk(d, g.Theta, g.seed, i)
		}
	}
	return g
}

// ThetaStar is the θ* sensor i's latest sample was drawn with (θ*₀ before
// its first). The slice is the generator's: copy it to keep it.
func (g *Generator) ThetaStar(i int) []float64 {
	if g.walks == nil {
		return g.Theta
	}
	return g.walks[i].to(uint64(g.seqs[i]))
}

// Next returns sensor i's next sample; x is written into dst (len Dim).
func (g *Generator) Next(i int, dst []float64) codec.Sample {
	r := g.rngs[i]
	theta := g.Theta
	if g.walks != nil {
		theta = g.walks[i].to(uint64(g.seqs[i]) + 1)
	}
	var x []float64
	y := 0.0
	if g.ar > 0 {
		y = theta[g.ar]
		for k, v := range g.lags[i] {
			y += theta[k] * v
		}
	} else {
		x = dst[:g.Dim]
		for j := range x {
			x[j] = r.NormFloat64()
			y += x[j] * theta[j]
		}
	}
	y += g.Noise * r.NormFloat64()
	y += g.outlier(i)
	if g.ar > 0 {
		lags := g.lags[i] // newest first
		copy(lags[1:], lags)
		lags[0] = y
	}
	s := codec.Sample{X: x, Y: y, Seq: g.seqs[i], HasSeq: true}
	g.seqs[i]++
	return s
}

// Config of one emitter run. The zero value of every field is its default;
// NoNoise turns the noise off.
type Config struct {
	// Kafka is the client configuration. Unset fields take their defaults
	// (kafkaconf.Kafka.WithDefaults).
	Kafka kafkaconf.Kafka
	// Topic receives the samples. Default topology.DefaultInput, the
	// processor's default input.
	Topic string
	// Partitions of Topic if the emitter has to create it. Default
	// topology.DefaultPartitions.
	Partitions int
	// Sensors is the number of sensors, keyed "1" … "N". Default 8.
	Sensors int
	// Dim is the features per sample. Default 10; with AR, none.
	Dim int
	// AR, when positive, sends an autoregressive stream of order AR:
	// samples carry y alone, y[t] = θ*·(y[t-1], …, y[t-AR], 1) + noise, the
	// features of a processor with the same AR. Default 0: x and y.
	AR int
	// Count is the samples to send in all. Default none: send until the
	// context ends.
	Count int64
	// Rate is the samples per second in all. Default none: as fast as the
	// broker takes them.
	Rate float64
	// Batch is the samples per message (each message holds one sensor's
	// samples), a micro-batch that saves a message per sample. Default 1.
	Batch int
	// Linger bounds how long a partial batch waits for more samples, so
	// that a slow Rate does not hold samples back. Default 1s.
	Linger time.Duration
	// Format is the wire format of the samples. Default codec.FormatJSON.
	Format codec.Format
	// Seed of the random samples: a seed sends the same samples each run.
	// Default 0.
	Seed uint64
	// Theta is the true coefficients θ* that the models should learn.
	// Default DefaultTheta(Dim), or DefaultARTheta(AR) with AR.
	Theta []float64
	// Noise is the standard deviation of the Gaussian noise on y, which
	// the models' MSE converges to. Default 0.1.
	Noise float64
	// NoNoise sends y without noise. Default false.
	NoNoise bool
	// Drift says how θ* moves. Default none: it stays.
	Drift Drift
	// Outliers adds gross errors to a fraction of the samples. Default
	// none.
	Outliers Outliers
	// SensorMajor sends each sensor's share of Count (Count/Sensors, rounded
	// up) back to back, sensor after sensor, instead of one sample of each
	// sensor in turn: devices that upload what they buffered. Needs Count.
	// Default false.
	SensorMajor bool
	// Log receives the emitter's logs. Default slog.Default().
	Log *slog.Logger
	// Sent, if set, counts samples acknowledged by the broker (for
	// progress). Default none.
	Sent *atomic.Int64
}

// Validate reports the first setting of c that Run cannot use, as a
// *setting.Error naming its field where it is one field. Run validates
// after filling the defaults, so a zero field is fine there; a caller that
// sets every field explicitly (the CLI) validates before.
func (c *Config) Validate() error {
	const pkg = "emitter"
	switch {
	case c.Sensors < 1:
		return setting.Errorf(pkg, "Sensors", c.Sensors, "≥ 1")
	case c.Dim < 1 && c.AR == 0:
		return setting.Errorf(pkg, "Dim", c.Dim, "≥ 1")
	case c.AR < 0 || c.AR > codec.MaxLagOrder:
		return setting.Errorf(pkg, "AR", c.AR, "0..%d", codec.MaxLagOrder)
	case c.AR > 0 && c.Drift.Kind != DriftNone:
		return setting.Errorf(pkg, "AR", c.AR, "0 with a Drift (a drifting θ* may not stay stationary)")
	case c.AR > 0 && c.Theta != nil && len(c.Theta) != c.AR+1:
		return setting.Errorf(pkg, "Theta", fmt.Sprintf("of %d coefficients", len(c.Theta)), "%d, the lags and the constant", c.AR+1)
	case c.Count < 0:
		return setting.Errorf(pkg, "Count", c.Count, "≥ 0 (0: forever)")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0):
		return setting.Errorf(pkg, "Rate", c.Rate, "a finite number ≥ 0 (0: as fast as possible)")
	case c.Batch < 1:
		return setting.Errorf(pkg, "Batch", c.Batch, "≥ 1")
	case c.SensorMajor && c.Count == 0:
		return setting.Errorf(pkg, "Count", c.Count, "> 0 in sensor-major order (each sensor sends its share of the count)")
	case c.Linger <= 0:
		return setting.Errorf(pkg, "Linger", c.Linger, "> 0")
	case c.Batch > 1 && c.Format == codec.FormatText:
		return setting.Errorf(pkg, "Batch", c.Batch, "1 in the text format, which carries one sample per message; use json or binary")
	case c.AR == 0 && c.Theta != nil && len(c.Theta) != c.Dim:
		return setting.Errorf(pkg, "Theta", fmt.Sprintf("of %d coefficients", len(c.Theta)), "%d, the dimension", c.Dim)
	case !(c.Noise >= 0) || math.IsInf(c.Noise, 0):
		return setting.Errorf(pkg, "Noise", c.Noise, "a finite number ≥ 0")
	case c.Drift.Kind == DriftWander && (!(c.Drift.Sigma > 0) || math.IsInf(c.Drift.Sigma, 0)):
		return setting.Errorf(pkg, "Drift", c.Drift, "a finite SIGMA > 0")
	}
	if err := c.Outliers.Validate(); err != nil {
		return fmt.Errorf("%s: %w", pkg, err)
	}
	return nil
}

func (c *Config) defaults() {
	if c.Topic == "" {
		c.Topic = topology.DefaultInput
	}
	if c.Sensors == 0 {
		c.Sensors = 8
	}
	if c.Dim == 0 {
		c.Dim = 10
	}
	if c.AR > 0 {
		c.Dim = 0
		if c.Theta == nil {
			c.Theta = DefaultARTheta(c.AR)
		}
	}
	if c.Batch == 0 {
		c.Batch = 1
	}
	if c.Linger == 0 {
		c.Linger = time.Second
	}
	if c.Theta == nil {
		c.Theta = DefaultTheta(c.Dim)
	}
	switch {
	case c.NoNoise:
		c.Noise = 0
	case c.Noise == 0:
		c.Noise = 0.1
	}
	if c.Partitions == 0 {
		c.Partitions = topology.DefaultPartitions
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Run emits until Count samples are acknowledged or ctx ends. It returns the
// number of samples acknowledged.
func Run(ctx context.Context, cfg Config) (int64, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	tm, err := cfg.Kafka.TopicManager()
	if err != nil {
		return 0, err
	}
	_, err = cfg.Kafka.EnsureStream(tm, cfg.Topic, cfg.Partitions)
	tm.Close()
	if err != nil {
		return 0, err
	}
	opts, err := cfg.Kafka.EmitterOptions()
	if err != nil {
		return 0, err
	}
	em, err := goka.NewEmitter(cfg.Kafka.WithDefaults().Brokers, goka.Stream(cfg.Topic), new(codec.Bytes), opts...)
	if err != nil {
		return 0, fmt.Errorf("emitter to %s: %w", cfg.Topic, err)
	}
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	emit := func(key string, value []byte, n int) error {
		p, err := em.Emit(key, value)
		if err != nil {
			return fmt.Errorf("emit to %s key %q: %w", cfg.Topic, key, err)
		}
		p.Then(func(err error) {
			if err != nil {
				e := fmt.Errorf("emit to %s key %q: %w", cfg.Topic, key, err)
				failed.CompareAndSwap(nil, &e)
				return
			}
			acked.Add(int64(n))
			if cfg.Sent != nil {
				cfg.Sent.Add(int64(n))
			}
		})
		return nil
	}
	runErr := generate(ctx, cfg, emit, &failed)
	if err := em.Finish(); err != nil && runErr == nil {
		runErr = fmt.Errorf("emitter to %s: flush: %w", cfg.Topic, err)
	}
	if e := failed.Load(); e != nil && runErr == nil {
		runErr = *e
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	return acked.Load(), runErr
}

// generate produces cfg.Count samples round-robin over the sensors, groups
// them into per-sensor batches and hands each message to emit, pacing to
// cfg.Rate.
func generate(ctx context.Context, cfg Config, emit func(key string, value []byte, n int) error, failed *atomic.Pointer[error]) error {
	gen := NewGenerator(cfg.Sensors, cfg.Dim, cfg.Theta, cfg.Noise, cfg.Seed).WithDrift(cfg.Drift).WithOutliers(cfg.Outliers).WithAR(cfg.AR)
	type pending struct {
		xs      []float64 // flat backing of the batch's x
		samples []codec.Sample
		since   time.Time
	}
	bufs := make([]pending, cfg.Sensors)
	for i := range bufs {
		bufs[i].xs = make([]float64, cfg.Batch*cfg.Dim)
	}
	flush := func(i int) error {
		b := &bufs[i]
		if len(b.samples) == 0 {
			return nil
		}
		value := codec.Encode(cfg.Format, nil, b.samples)
		n := len(b.samples)
		b.samples = b.samples[:0]
		return emit(SensorID(i), value, n)
	}
	perSensor := (cfg.Count + int64(cfg.Sensors) - 1) / int64(cfg.Sensors)
	start := time.Now()
	var made int64
	lastLinger := start
	for cfg.Count == 0 || made < cfg.Count {
		if e := failed.Load(); e != nil {
			return *e
		}
		if err := ctx.Err(); err != nil {
			break
		}
		i := int(made % int64(cfg.Sensors))
		if cfg.SensorMajor {
			i = int(made / perSensor)
		}
		b := &bufs[i]
		if len(b.samples) == 0 {
			b.since = time.Now()
		}
		k := len(b.samples)
		b.samples = append(b.samples, gen.Next(i, b.xs[k*cfg.Dim:(k+1)*cfg.Dim]))
		made++
		if len(b.samples) == cfg.Batch {
			if err := flush(i); err != nil {
				return err
			}
		}
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(made) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if cfg.Batch > 1 && time.Since(lastLinger) >= cfg.Linger/4 {
			lastLinger = time.Now()
			for j := range bufs {
				if len(bufs[j].samples) > 0 && time.Since(bufs[j].since) >= cfg.Linger {
					if err := flush(j); err != nil {
						return err
					}
				}
			}
		}
	}
	for i := range bufs {
		if err := flush(i); err != nil {
			return err
		}
	}
	return ctx.Err()
}
