package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
)

// dashRow is one sensor row of the dashboard's first page.
type dashRow struct {
	id                string
	anomalies, drifts int // the badges' counts, 0 without a badge
}

var (
	dashRowRE   = regexp.MustCompile(`<tr><td class="id"><a href="/sensors/([^?"]+)\?`)
	dashBadgeRE = regexp.MustCompile(`<span class="badge (anomaly|drift)"[^>]*>(\d+)\+?`)
)

// dashboardRows GETs the dashboard and parses its rows, in order.
func dashboardRows(url string) ([]dashRow, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %v", url, resp.Status, err)
	}
	_, body, _ := strings.Cut(string(b), "<tbody>")
	var rows []dashRow
	for _, tr := range strings.Split(body, "</tr>") {
		m := dashRowRE.FindStringSubmatch(tr)
		if m == nil {
			continue
		}
		r := dashRow{id: m[1]}
		for _, bm := range dashBadgeRE.FindAllStringSubmatch(tr, -1) {
			n, _ := strconv.Atoi(bm[2])
			if bm[1] == "anomaly" {
				r.anomalies = n
			} else {
				r.drifts = n
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// TestDashboardAnomalyRanking is the dashboard's promise on `run`: its
// clean synthetic stream raises no anomaly badge in 60 s; then `emit
// --outliers 0.001:10` into the same broker puts the sensors that got
// outliers first on the dashboard's first page. One `run` serves both
// phases.
func TestDashboardAnomalyRanking(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel() // mostly waits on its processes; runs beside the other parallel tests

	const sensors, dim = 8, 10 // run's and emit's defaults
	brokerAddr, httpAddr := freeAddr(t), freeAddr(t)
	run := start(t, "run", "--data-dir", t.TempDir(), "--listen", brokerAddr, "--http", httpAddr)
	dash := "http://" + httpAddr + "/"

	// (a) The clean stream, for 60 s from the first sensor on the page.
	var rows []dashRow
	testkit.Eventually(t, 60*time.Second, func() (err error) {
		if rows, err = dashboardRows(dash); err == nil && len(rows) != sensors {
			err = fmt.Errorf("%d sensors on the dashboard", len(rows))
		}
		return err
	})
	clean := time.Now().Add(60 * time.Second)
	badges := map[string]int{} // the most anomalies a sensor's badge showed
	for {
		rows, err := dashboardRows(dash)
		if err != nil {
			t.Fatalf("dashboard: %v\n%s", err, testkit.Tail(run.Output(), 20))
		}
		for _, r := range rows {
			badges[r.id] = max(badges[r.id], r.anomalies)
		}
		if time.Now().After(clean) {
			break
		}
		time.Sleep(5 * time.Second)
	}
	// The badges count the events serve has read: let it read those of
	// the last samples too.
	time.Sleep(2 * time.Second)
	rows, err := dashboardRows(dash)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		badges[r.id] = max(badges[r.id], r.anomalies)
	}
	for id, n := range badges {
		if n > 0 {
			t.Errorf("clean stream: sensor %s shows an anomaly badge of %d", id, n)
		}
	}
	t.Logf("clean stream, 60 s: anomaly badges per sensor %v", badges)

	// (b) Outliers at 0.001 of 10σ. The sensors they hit are the
	// emitter's (its per-sensor streams are reproducible): pick a seed
	// whose outliers hit a few sensors but not sensor 1, so that ID order
	// alone would not put them first.
	const count = 8000
	out := emitter.Outliers{P: 0.001, Size: 10}
	var hit []string
	seed := uint64(0)
	for s := uint64(2); s < 500 && seed == 0; s++ {
		_, _, outlier := testkit.Emitted(sensors, dim, count, s, emitter.Drift{}, out)
		hit = hit[:0]
		for i := range sensors {
			if slices.Contains(outlier[i], true) {
				hit = append(hit, emitter.SensorID(i))
			}
		}
		if len(hit) >= 2 && len(hit) <= 3 && !slices.Contains(hit, emitter.SensorID(0)) {
			seed = s
		}
	}
	if seed == 0 {
		t.Fatal("no seed below 500 sends outliers to 2 or 3 sensors other than the first")
	}
	t.Logf("emit --seed %d: outliers hit sensors %v", seed, hit)
	emit := startNamed(t, "streamrls emit", "emit", "--brokers", brokerAddr, "--count", strconv.Itoa(count),
		"--seed", strconv.FormatUint(seed, 10), "--outliers", "0.001:10")
	<-emit.Done()
	if err := emit.Err(); err != nil {
		t.Fatalf("emit: %v\n%s", err, emit.Output())
	}
	slices.Sort(hit)
	testkit.Eventually(t, 30*time.Second, func() error {
		rows, err := dashboardRows(dash)
		if err != nil {
			return err
		}
		if len(rows) < len(hit) {
			return fmt.Errorf("%d rows on the first page", len(rows))
		}
		var first []string
		for _, r := range rows[:len(hit)] {
			if r.anomalies > 0 {
				first = append(first, r.id)
			}
		}
		slices.Sort(first)
		if !slices.Equal(first, hit) {
			return fmt.Errorf("first page %+v: the first %d are not %v with anomaly badges", rows, len(hit), hit)
		}
		t.Logf("first page: %+v", rows)
		return nil
	})
	// A page as long as the sensors hit holds them alone: the ranking spans
	// the pages, where ID order would show sensors 1 to 3.
	rows, err = dashboardRows(dash + "?limit=" + strconv.Itoa(len(hit)))
	if err != nil {
		t.Fatal(err)
	}
	var page []string
	for _, r := range rows {
		page = append(page, r.id)
	}
	slices.Sort(page)
	if !slices.Equal(page, hit) {
		t.Errorf("first page of %d: %+v, want sensors %v", len(hit), rows, hit)
	}
	// Each one's sensor page draws one episode mark per episode its badge
	// counts.
	for _, r := range rows {
		b := getBody(t, "http://"+httpAddr+"/sensors/"+r.id+"?group=rls", "text/html", nil)
		if n := strings.Count(string(b), `<rect class="episode`); n != r.anomalies {
			t.Errorf("sensor %s: %d episode marks, its badge counts %d", r.id, n, r.anomalies)
		}
	}
}
