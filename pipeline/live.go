package pipeline

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/progress"
	"github.com/streamrls/streamrls/view"
)

// liveSnap is one refresh of run's live table.
type liveSnap struct {
	Elapsed time.Duration
	Samples uint64
	Rate    float64 // samples applied per second over the last interval
	Sensors int
	Sensor  string      // the sensor whose models are shown
	Models  []liveModel // empty until that sensor has a state
}

type liveModel struct {
	Name          string
	Lambda, Delta float64
	Samples       uint64
	Dist          float64 // ‖θ − θ*‖₂
	RecentMSE     float64
}

// liveTable refreshes the live table every interval until ctx ends: on a
// terminal redrawn in place, otherwise one line per interval. The sums are
// the view's running totals (no pass over the sensors), and the rate is
// measured between the times those totals were read. Nothing is printed
// once ctx has ended.
// θ* is the truth's for the sensor's current sample count (it moves under
// --drift).
func liveTable(ctx context.Context, w io.Writer, v *view.View, truth api.Truth, interval time.Duration) {
	live := progress.NewLive(w, progress.IsTerminal(w))
	t := time.NewTicker(interval)
	defer t.Stop()
	start := time.Now()
	last := v.Totals()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cur := v.Totals()
			snap := liveSnap{Elapsed: cur.At.Sub(start), Samples: cur.Samples, Rate: liveRate(last, cur),
				Sensors: cur.Sensors, Sensor: emitter.SensorID(0)}
			last = cur
			if s, ok, _ := v.Get(snap.Sensor); ok && s.Bank != nil {
				var theta []float64
				if ts := truth.ThetaStar(s.ID, []uint64{s.Meta.Samples}); len(ts) == 1 {
					theta = ts[0]
				}
				for _, m := range s.Bank.Models {
					snap.Models = append(snap.Models, liveModel{Name: m.Name, Lambda: m.Lambda, Delta: m.Delta,
						Samples: m.Samples, Dist: distance(m.Theta, theta), RecentMSE: m.RecentMSE})
				}
			}
			if ctx.Err() != nil {
				return
			}
			_ = live.Show(renderLive(snap, live.Terminal()))
		}
	}
}

// liveRate is the samples per second between two readings of the totals,
// over the time between them; 0 when the first reading was taken before
// the view had caught up (its sums were partial), the sum went down (a
// sensor deleted) or no time passed.
func liveRate(prev, cur view.Totals) float64 {
	dt := cur.At.Sub(prev.At).Seconds()
	if !prev.Recovered || dt <= 0 || cur.Samples < prev.Samples {
		return 0
	}
	return float64(cur.Samples-prev.Samples) / dt
}

// renderLive formats a snapshot: a small table for a terminal, one line
// otherwise.
func renderLive(s liveSnap, table bool) string {
	var b strings.Builder
	if !table {
		fmt.Fprintf(&b, "%6.0fs  samples %d  %8.0f/s  sensors %d", s.Elapsed.Seconds(), s.Samples, s.Rate, s.Sensors)
		if len(s.Models) > 0 {
			fmt.Fprintf(&b, "  sensor %s:", s.Sensor)
			for _, m := range s.Models {
				fmt.Fprintf(&b, " %s ‖θ−θ*‖=%.4g mse=%.4g", m.Name, m.Dist, m.RecentMSE)
			}
		}
		b.WriteByte('\n')
		return b.String()
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "elapsed\tsamples\tsamples/s\tsensors\t")
	fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t\n", s.Elapsed.Round(time.Second), s.Samples, s.Rate, s.Sensors)
	tw.Flush()
	if len(s.Models) == 0 {
		fmt.Fprintf(&b, "sensor %s: no samples yet\n", s.Sensor)
		return b.String()
	}
	fmt.Fprintf(&b, "sensor %s\n", s.Sensor)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tλ\tδ\tsamples\t‖θ−θ*‖\trecent MSE\t")
	for _, m := range s.Models {
		fmt.Fprintf(tw, "%s\t%g\t%g\t%d\t%.6f\t%.6f\t\n", m.Name, m.Lambda, m.Delta, m.Samples, m.Dist, m.RecentMSE)
	}
	tw.Flush()
	return b.String()
}

func distance(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}
