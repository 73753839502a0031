package processor

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/setting"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
)

// arBank is the bank of an autoregressive record.
func arBank(t *testing.T, rec *Record) *rls.Bank {
	t.Helper()
	st, ok := rec.State.(*BankState)
	if !ok {
		t.Fatalf("state %T", rec.State)
	}
	return st.Bank
}

// TestARLags: the first P samples of a sensor fill its lags and update no
// model; every later sample updates the models with x, the lags (newest
// first) and 1, then becomes the newest lag; a rejected sample is no lag;
// the lags are written with the state. θ equals the closed-form least
// squares on the lagged design.
func TestARLags(t *testing.T) {
	const p = 3
	h := newTestHandler(0)
	h.AR = p
	c := &fakeCtx{key: "s", owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
	send := func(v string) {
		h.Process(c, []byte(v))
		c.off++
	}
	r := rand.New(rand.NewPCG(3, 4))
	var ys []float64
	var xs [][]float64 // the lagged design
	for i := range 200 {
		y := 1 + 0.3*r.NormFloat64()
		if n := len(ys); n >= p {
			y += 0.5*ys[n-1] - 0.2*ys[n-2] + 0.1*ys[n-3]
			xs = append(xs, []float64{ys[n-1], ys[n-2], ys[n-3], 1})
		}
		ys = append(ys, y)
		send(`{"y": ` + strconv.FormatFloat(y, 'g', -1, 64) + `}`)
		if i == p-1 {
			rec := stored(t, c, "s")
			if rec.Samples != 0 || rec.Dim != p+1 || !slices.Equal(rec.Lags.Values, []float64{ys[2], ys[1], ys[0]}) ||
				rec.Lags.Order != p {
				t.Fatalf("after %d samples: %+v, lags %+v; want no samples, dim %d and the lags", p, rec.Meta, rec.Lags, p+1)
			}
			if b := arBank(t, rec); b.Models[0].Samples != 0 {
				t.Fatalf("a model updated while the lags fill: %d samples", b.Models[0].Samples)
			}
		}
		if i == 100 {
			send(`{"y": NaN}`) // rejected: not a lag
		}
	}
	rec := stored(t, c, "s")
	n := len(ys)
	if rec.Samples != uint64(n-p) || rec.Rejected != 1 || !slices.Equal(rec.Lags.Values, []float64{ys[n-1], ys[n-2], ys[n-3]}) {
		t.Fatalf("state %+v, lags %v; want %d samples, 1 rejected, the last %d values", rec.Meta, rec.Lags, n-p, p)
	}
	for _, m := range arBank(t, rec).Models {
		if m.Lambda != 1 {
			continue
		}
		want, _, err := rlstest.Oracle(m.Spec, xs, ys[p:])
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if math.Abs(m.Theta[j]-want[j]) > 1e-8*(1+math.Abs(want[j])) {
				t.Fatalf("model %s: θ = %v, oracle %v", m.Name, m.Theta, want)
			}
		}
	}
}

// TestARWithX: a sample's own x comes first; a sensor keeps its dimension,
// and a micro-batch fills the lags and updates in order.
func TestARWithX(t *testing.T) {
	h := newTestHandler(0)
	h.AR = 2
	c := &fakeCtx{key: "s", owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
	h.Process(c, []byte(`{"samples": [{"y": 1, "x": [5]}, {"y": 2, "x": [6]}, {"y": 3, "x": [7]}, {"y": 4, "x": [8]}]}`))
	c.off++
	h.Process(c, []byte(`{"y": 5}`)) // no x: another dimension
	rec := stored(t, c, "s")
	if rec.Samples != 2 || rec.Rejected != 1 || rec.Dim != 4 || !slices.Equal(rec.Lags.Values, []float64{4, 3}) {
		t.Fatalf("state %+v, lags %v; want 2 samples of dimension 4, 1 rejected, lags [4 3]", rec.Meta, rec.Lags)
	}
	if got := codec.FeatureNames(int(rec.Dim), rec.Lags); !slices.Equal(got, []string{"x[0]", "y[t-1]", "y[t-2]", "1"}) {
		t.Errorf("feature names %v", got)
	}
}

// TestARLagsSurviveReload: the lags are read back from the table value, so
// a restarted processor continues where the state left off.
func TestARLagsSurviveReload(t *testing.T) {
	h := newTestHandler(0)
	h.AR = 2
	c := &fakeCtx{key: "s", owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
	for i, y := range []string{"1", "2", "3"} {
		c.off = int64(i)
		h.Process(c, []byte(`[`+strconv.Itoa(i)+`, `+y+`]`))
	}
	h2 := newTestHandler(0)
	h2.AR = 2
	c.off = 3
	h2.Process(c, []byte(`[3, 4]`))
	rec := stored(t, c, "s")
	if rec.Samples != 2 || !slices.Equal(rec.Lags.Values, []float64{4, 3}) {
		t.Fatalf("state %+v, lags %v; want 2 samples and lags [4 3]", rec.Meta, rec.Lags)
	}
	// Another lag order is refused, not guessed.
	h3 := newTestHandler(0)
	h3.AR = 3
	c.off = 4
	h3.Process(c, []byte(`[4, 5, 1]`))
	if rec := stored(t, c, "s"); rec.Samples != 2 || rec.Rejected != 1 {
		t.Fatalf("another order: state %+v; want the sample rejected", rec.Meta)
	}
}

func TestARValidate(t *testing.T) {
	for _, cfg := range []Config{{AR: -1}, {AR: codec.MaxLagOrder + 1}, {AR: 2, JSONMapping: codec.JSONMapping{Y: "a", X: []string{"b"}}}} {
		var se *setting.Error
		if err := cfg.Validate(); !errors.As(err, &se) || se.Field != "AR" {
			t.Errorf("AR %d: got %v, want a setting error of AR", cfg.AR, err)
		}
	}
}
