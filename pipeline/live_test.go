package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/view"
)

func TestRenderLive(t *testing.T) {
	s := liveSnap{Elapsed: 12 * time.Second, Samples: 60000, Rate: 5003.4, Sensors: 8, Sensor: "1",
		Models: []liveModel{{Name: "mod1", Lambda: 1, Delta: 10, Samples: 7500, Dist: 0.0012345, RecentMSE: 0.0101},
			{Name: "mod2", Lambda: 0.99, Delta: 1, Samples: 7500, Dist: 0.0134, RecentMSE: 0.0105}}}
	line := renderLive(s, false)
	if strings.Count(line, "\n") != 1 {
		t.Errorf("not one line: %q", line)
	}
	for _, want := range []string{"12s", "samples 60000", "5003/s", "sensors 8", "sensor 1:", "mod1 ‖θ−θ*‖=0.001234", "mse=0.0101", "mod2 ‖θ−θ*‖=0.0134"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	table := renderLive(s, true)
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("table has %d lines, want 6:\n%s", len(lines), table)
	}
	for i, want := range [][]string{
		{"elapsed", "samples", "samples/s", "sensors"},
		{"12s", "60000", "5003", "8"},
		{"sensor", "1"},
		{"model", "λ", "δ", "samples", "‖θ−θ*‖", "recent MSE"},
		{"mod1", "1", "10", "7500", "0.001234", "0.010100"},
		{"mod2", "0.99", "1", "7500", "0.013400", "0.010500"},
	} {
		if got := strings.Fields(strings.ReplaceAll(lines[i], "recent MSE", "recent_MSE")); strings.Join(got, "|") != strings.ReplaceAll(strings.Join(want, "|"), "recent MSE", "recent_MSE") {
			t.Errorf("line %d = %q, want fields %v", i, lines[i], want)
		}
	}
	empty := renderLive(liveSnap{Sensor: "1"}, true)
	if !strings.Contains(empty, "sensor 1: no samples yet") {
		t.Errorf("empty table: %q", empty)
	}
}

func TestLiveRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		prev, cur view.Totals
		want      float64
	}{
		// 10,000 samples over the 1.25 s between the readings, whatever the tick.
		{view.Totals{Samples: 5000, At: t0, Recovered: true}, view.Totals{Samples: 15000, At: t0.Add(1250 * time.Millisecond)}, 8000},
		{view.Totals{Samples: 7, At: t0, Recovered: true}, view.Totals{Samples: 7, At: t0.Add(time.Second)}, 0},
		{view.Totals{Samples: 9, At: t0, Recovered: true}, view.Totals{Samples: 3, At: t0.Add(time.Second)}, 0},
		{view.Totals{Samples: 0, At: t0, Recovered: true}, view.Totals{Samples: 3, At: t0}, 0},
		// A restart: the view's sums jump from 0 to what the table holds when it has caught up.
		{view.Totals{Samples: 0, At: t0}, view.Totals{Samples: 900000, At: t0.Add(time.Second), Recovered: true}, 0},
	} {
		if got := liveRate(c.prev, c.cur); got != c.want {
			t.Errorf("liveRate(%+v, %+v) = %v, want %v", c.prev, c.cur, got, c.want)
		}
	}
}
