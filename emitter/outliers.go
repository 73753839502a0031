package emitter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Outliers are gross errors added to a fraction of the samples (--outliers
// P:SIZE): each sample independently, with probability P, gets an error of
// ±SIZE·σ (σ the noise's standard deviation, the sign at random) on top of
// its noise. They come from a random stream of their own per sensor, so x,
// the noise and θ* are the same with or without them.
type Outliers struct {
	P    float64 // fraction of samples, in [0, 1]
	Size float64 // in units of the noise's standard deviation, ≥ 0
}

// outlierSalt separates a sensor's outlier stream from its samples' stream.
const outlierSalt = 0x6f75746c69657273

// ParseOutliers parses "P:SIZE" ("" or "none": no outliers).
func ParseOutliers(s string) (Outliers, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return Outliers{}, nil
	}
	p, size, ok := strings.Cut(s, ":")
	if !ok {
		return Outliers{}, fmt.Errorf("outliers %q: want P:SIZE (a fraction P in [0, 1] of samples get an error of ±SIZE·σ)", s)
	}
	o := Outliers{}
	var err1, err2 error
	o.P, err1 = strconv.ParseFloat(p, 64)
	o.Size, err2 = strconv.ParseFloat(size, 64)
	if err1 != nil || err2 != nil {
		return Outliers{}, fmt.Errorf("outliers %q: P and SIZE must be numbers", s)
	}
	return o, o.Validate()
}

// Validate reports a P outside [0, 1] or a SIZE that is not a finite ≥ 0.
func (o Outliers) Validate() error {
	if !(o.P >= 0 && o.P <= 1) {
		return fmt.Errorf("outliers %s: P %v: want a fraction in [0, 1]", o, o.P)
	}
	if !(o.Size >= 0) || math.IsInf(o.Size, 0) {
		return fmt.Errorf("outliers %s: SIZE %v: want a finite number ≥ 0", o, o.Size)
	}
	return nil
}

// String is the --outliers form of o.
func (o Outliers) String() string {
	if o.P == 0 {
		return "none"
	}
	return strconv.FormatFloat(o.P, 'g', -1, 64) + ":" + strconv.FormatFloat(o.Size, 'g', -1, 64)
}

// WithOutliers adds outliers to the samples (see Outliers).
func (g *Generator) WithOutliers(o Outliers) *Generator {
	g.outliers, g.orngs, g.isOutlier = o, nil, nil
	if o.P > 0 {
		g.orngs = make([]*rand.Rand, len(g.rngs))
		g.isOutlier = make([]bool, len(g.rngs))
		for i := range g.orngs {
			g.orngs[i] = rand.New(rand.NewPCG(g.seed^outlierSalt, uint64(i)+1))
		}
	}
	return g
}

// Outlier reports whether sensor i's latest sample got an outlier.
func (g *Generator) Outlier(i int) bool { return g.isOutlier != nil && g.isOutlier[i] }

// outlier is the outlier error of sensor i's next sample (usually 0).
func (g *Generator) outlier(i int) float64 {
	if g.orngs == nil {
		return 0
	}
	r := g.orngs[i]
	u, neg := r.Float64(), r.Uint64()&1 == 1 // both drawn every sample: the stream does not depend on P
	g.isOutlier[i] = u < g.outliers.P
	if !g.isOutlier[i] {
		return 0
	}
	if neg {
		return -g.outliers.Size * g.Noise
	}
	return g.outliers.Size * g.Noise
}
