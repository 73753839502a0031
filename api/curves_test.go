package api_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/schema"
)

// TestHistoryOf keeps the points with the newest point's models only, writes
// non-finite figures as 0 (JSON has no number for them) and adds θ* when the
// truth has the sensor's dimension.
func TestHistoryOf(t *testing.T) {
	point := func(samples uint64, dim int, names ...string) schema.Snapshot {
		s := schema.Snapshot{Sensor: "s", Samples: samples, UpdatedMs: int64(samples), Dim: dim}
		for _, n := range names {
			s.Models = append(s.Models, schema.Model{Name: n, Theta: make([]float64, dim), MSE: float64(samples)})
		}
		return s
	}
	points := []schema.Snapshot{point(1, 2, "a"), point(2, 3, "a"), point(3, 2, "a", "b"), point(4, 2, "a"), point(5, 2, "a")}
	points[4].Models[0].MSE = math.NaN()
	h, ok := api.HistoryOf("g", "s", points, api.ConstTruth{1, 2})
	if !ok {
		t.Fatal("no history")
	}
	if want := []uint64{1, 4, 5}; !reflect.DeepEqual(h.Samples, want) {
		t.Errorf("samples %v, want %v (the points of the newest models)", h.Samples, want)
	}
	if len(h.Models) != 1 || !reflect.DeepEqual(h.Models[0].MSE, []float64{1, 4, 0}) {
		t.Errorf("models %+v, want one with MSE [1 4 0]", h.Models)
	}
	if len(h.ThetaStar) != 3 || !reflect.DeepEqual(h.ThetaStar[0], []float64{1, 2}) {
		t.Errorf("θ* %v", h.ThetaStar)
	}
	if h, _ := api.HistoryOf("g", "s", points, api.ConstTruth{1}); h.ThetaStar != nil {
		t.Errorf("θ* of another dimension: %v, want none", h.ThetaStar)
	}
	if _, ok := api.HistoryOf("g", "s", nil, nil); ok {
		t.Error("a history without points")
	}
}
