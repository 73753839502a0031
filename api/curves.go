package api

import (
	"math"

	"github.com/streamrls/streamrls/schema"
)

// Truth knows θ*, the true coefficients behind a sensor's samples: the
// emitter's (emitter.Truth, in `run`), or one vector for every sensor
// (ConstTruth, `serve --theta-star`).
type Truth interface {
	// ThetaStar returns θ* of a sensor after each of ns samples
	// (ascending): the θ* its ns[i]-th sample was drawn with. nil: unknown.
	ThetaStar(sensor string, ns []uint64) [][]float64
}

// ConstTruth is one θ* for every sensor of its dimension.
type ConstTruth []float64

// ThetaStar returns t for every n.
func (t ConstTruth) ThetaStar(_ string, ns []uint64) [][]float64 {
	out := make([][]float64, len(ns))
	for i := range out {
		out[i] = t
	}
	return out
}

// trueTheta asks truth (which may be nil) for θ* of a sensor of dimension
// dim, nil when unknown or of another dimension.
func trueTheta(truth Truth, sensor string, dim int, ns []uint64) [][]float64 {
	if truth == nil || len(ns) == 0 {
		return nil
	}
	out := truth.ThetaStar(sensor, ns)
	if len(out) != len(ns) {
		return nil
	}
	for _, th := range out {
		if len(th) != dim {
			return nil
		}
	}
	return out
}

// withFeatures names h's coefficients by an autoregressive sensor's
// features, when they are as many as its dimension.
func withFeatures(h *schema.History, features []string) {
	if len(features) == h.Dim && len(features) > 0 {
		h.Features = features
	}
}

// HistoryOf renders a sensor's points. Only points with the models of the
// newest one (same names, same dimension) are kept: should a processor have
// been restarted with other --model flags, the curves show the current
// models. ok is false for a sensor without history.
func HistoryOf(group, sensor string, points []schema.Snapshot, truth Truth) (schema.History, bool) {
	out := schema.History{Sensor: sensor, Group: group, Samples: []uint64{}, Updated: []int64{}, Rejected: []uint64{}, Models: []schema.ModelHistory{}}
	if len(points) == 0 {
		return out, false
	}
	latest := points[len(points)-1]
	out.Dim = latest.Dim
	for _, m := range latest.Models {
		out.Models = append(out.Models, schema.ModelHistory{Name: m.Name, Lambda: m.Lambda, Delta: m.Delta,
			Theta: [][]float64{}, MSE: []float64{}, RecentMSE: []float64{}, PTrace: []float64{}})
	}
	for _, p := range points {
		if !sameModels(p, latest) {
			continue
		}
		out.Samples = append(out.Samples, p.Samples)
		out.Updated = append(out.Updated, p.UpdatedMs)
		out.Rejected = append(out.Rejected, p.Rejected)
		for i, m := range p.Models {
			mh := &out.Models[i]
			mh.Theta = append(mh.Theta, m.Theta)
			mh.MSE = append(mh.MSE, finiteOr0(m.MSE))
			mh.RecentMSE = append(mh.RecentMSE, finiteOr0(m.RecentMSE))
			mh.PTrace = append(mh.PTrace, finiteOr0(m.PTrace))
		}
	}
	out.ThetaStar = trueTheta(truth, sensor, out.Dim, out.Samples)
	return out, true
}

func sameModels(a, b schema.Snapshot) bool {
	if a.Dim != b.Dim || len(a.Models) != len(b.Models) {
		return false
	}
	for i := range a.Models {
		if a.Models[i].Name != b.Models[i].Name || len(a.Models[i].Theta) != b.Dim {
			return false
		}
	}
	return true
}

func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
