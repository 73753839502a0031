package api_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/view"
)

// rankFixture is a served group of 30 sensors (s00 … s29) written
// straight into its table, with events of a few of them.
type rankFixture struct {
	url    string
	ids    []string // every sensor, in ID order
	events []schema.Event
	// newest is the sample time (unix ms) the page should take for s25's
	// newest sample: its latest event's plus the processing time from
	// that event to the state's last update.
	newest int64
}

const rankGroup = "rank"

// episodeBase is the sample time of s25's first event.
const episodeBase = int64(1_700_000_000_000)

func startRankFixture(t *testing.T) *rankFixture {
	t.Helper()
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	f := &rankFixture{}
	for i := range 30 {
		f.ids = append(f.ids, fmt.Sprintf("s%02d", i))
	}

	// Events: processing times within the last hour (except s05's), in
	// the order produced; s25's carry sample times for the episode strip.
	now := time.Now().UTC().Truncate(time.Millisecond)
	at := now.Add(-30 * time.Minute)
	off := int64(0)
	add := func(sensor, kind string, ago time.Duration, e schema.Event) {
		off++
		e.Sensor, e.Model, e.Kind, e.Offset = sensor, "mod1", kind, off
		e.Time = at.Add(-ago).Add(time.Duration(off) * time.Second).Format(time.RFC3339Nano)
		if e.SampleTS != 0 {
			e.SampleTime = time.UnixMilli(e.SampleTS).UTC().Format(time.RFC3339Nano)
		}
		f.events = append(f.events, e)
	}
	z := func(v float64) *float64 { return &v }
	add("s05", schema.EventAnomaly, 2*time.Hour, schema.Event{Z: z(6)})
	add("s12", schema.EventAnomaly, 0, schema.Event{Z: z(6)})
	for range 3 {
		add("s12", schema.EventDrift, 0, schema.Event{Statistic: z(1.2)})
	}
	add("s27", schema.EventAnomaly, 0, schema.Event{Z: z(5)})
	add("s08", schema.EventAnomaly, 0, schema.Event{Z: z(5)})
	add("s03", schema.EventDrift, 0, schema.Event{Statistic: z(1.1)})
	add("s03", schema.EventDrift, 0, schema.Event{Statistic: z(1.1)})
	// s25: two closed episodes, a drift and an open episode.
	add("s25", schema.EventAnomaly, 0, schema.Event{Z: z(-6), SampleTS: episodeBase})
	add("s25", schema.EventAnomalyEnd, 0, schema.Event{Count: 3, Peak: z(8.5), SampleTS: episodeBase + 10_000})
	add("s25", schema.EventAnomaly, 0, schema.Event{Z: z(7), SampleTS: episodeBase + 40_000})
	add("s25", schema.EventDrift, 0, schema.Event{Statistic: z(1.5), SampleTS: episodeBase + 45_000})
	add("s25", schema.EventAnomalyEnd, 0, schema.Event{Count: 1, Peak: z(7), SampleTS: episodeBase + 50_000})
	add("s25", schema.EventAnomaly, 0, schema.Event{Z: z(9), SampleTS: episodeBase + 80_000})
	last, _ := time.Parse(time.RFC3339Nano, f.events[len(f.events)-1].Time)
	updated := last.Add(20 * time.Second).UnixMilli()
	f.newest = episodeBase + 100_000

	_, put := testkit.TableWriter(t, kc, rankGroup, 2)
	for i, id := range f.ids {
		p := int32(i % 2)
		m := codec.Meta{Partition: p, Offset: 1, Samples: uint64(100 + i), Updated: updated, Dim: 2}
		put(id, p, codec.AppendEnvelope(nil, m, nil))
	}
	testkit.ProduceEvents(t, kc, history.EventsTopic(rankGroup), 2, f.events...)

	v := testkit.StartView(t, ctx, kc, rankGroup)
	ef := followEvents(t, ctx, kc, rankGroup, len(f.events))
	testkit.Eventually(t, 30*time.Second, func() error {
		if n, err := v.Count(); err != nil || n != len(f.ids) {
			return fmt.Errorf("%d of %d sensors in the view (%v)", n, len(f.ids), err)
		}
		return nil
	})
	srv := httptest.NewServer((&api.Server{Views: []*view.View{v}, Events: []*history.EventFollower{ef}}).Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

var (
	rowRE  = regexp.MustCompile(`<tr><td class="id"><a href="/sensors/([^?"]+)\?group=[^"]*">`)
	nextRE = regexp.MustCompile(`<a href="(/\?[^"]+)">next sensors`)
)

func getPage(t *testing.T, url string) string {
	t.Helper()
	return string(getBody(t, url, http.StatusOK))
}

// dashPage is the sensor IDs of a dashboard page, in order, and its next link.
func dashPage(t *testing.T, url string) (ids []string, next string) {
	t.Helper()
	page := getPage(t, url)
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	if m := nextRE.FindStringSubmatch(page); m != nil {
		next = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, next
}

// TestDashboardRanksAcrossPages: the dashboard orders every sensor by its
// anomaly episodes, then drifts, of the last hour, the others after them
// in ID order, and pages that order; s25, on page 3 in ID order, leads
// page 1. The sensor page draws s25's episodes on their sample times.
func TestDashboardRanksAcrossPages(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	f := startRankFixture(t)

	// The independent answer: the recent counts of the events produced,
	// and the IDs stably sorted by them.
	recent := time.Now().Add(-api.RecentEvents)
	anomalies, drifts := map[string]int{}, map[string]int{}
	for _, e := range f.events {
		if at, _ := time.Parse(time.RFC3339Nano, e.Time); at.Before(recent) {
			continue
		}
		switch e.Kind {
		case schema.EventAnomaly:
			anomalies[e.Sensor]++
		case schema.EventDrift:
			drifts[e.Sensor]++
		}
	}
	want := slices.Clone(f.ids)
	slices.SortStableFunc(want, func(a, b string) int {
		if anomalies[a] != anomalies[b] {
			return anomalies[b] - anomalies[a]
		}
		return drifts[b] - drifts[a]
	})

	t.Run("pages", func(t *testing.T) {
		const limit = 10
		if i := slices.Index(f.ids, "s25"); i/limit != 2 {
			t.Fatalf("s25 is on page %d in ID order, want 3", i/limit+1)
		}
		var got []string
		url := f.url + "/?group=" + rankGroup + "&limit=" + strconv.Itoa(limit)
		for pages := 0; url != ""; pages++ {
			if pages == 5 {
				t.Fatalf("more than 4 pages of %d for %d sensors", limit, len(f.ids))
			}
			ids, next := dashPage(t, url)
			if len(ids) > limit || (next != "" && len(ids) != limit) {
				t.Errorf("page %d: %d rows with next %q", pages+1, len(ids), next)
			}
			got = append(got, ids...)
			url = ""
			if next != "" {
				url = f.url + next
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages list\n%q\nwant\n%q", got, want)
		}
		if len(got) == 0 || got[0] != "s25" {
			t.Errorf("page 1 does not start with s25: %q", got)
		}
		// After a ranked cursor the ranking goes on, then the rest.
		i := slices.Index(want, "s08")
		ids, _ := dashPage(t, f.url+"/?group="+rankGroup+"&limit=5&after=s08")
		if !slices.Equal(ids, want[i+1:i+6]) {
			t.Errorf("after s08: %q, want %q", ids, want[i+1:i+6])
		}
		// After an unranked one, the unranked sensors after it in ID order.
		ids, _ = dashPage(t, f.url+"/?group="+rankGroup+"&limit=4&after=s02")
		if exp := []string{"s04", "s05", "s06", "s07"}; !slices.Equal(ids, exp) {
			t.Errorf("after s02: %q, want %q", ids, exp)
		}
	})

	t.Run("badges", func(t *testing.T) {
		page := getPage(t, f.url+"/?group="+rankGroup)
		for _, id := range f.ids {
			i := strings.Index(page, `<a href="/sensors/`+id+`?`)
			if i < 0 {
				t.Fatalf("no row of %s", id)
			}
			row, _, _ := strings.Cut(page[i:], "</tr>")
			if got, want := strings.Contains(row, "badge anomaly"), anomalies[id] > 0; got != want {
				t.Errorf("%s: anomaly badge %v, want %v: %s", id, got, want, row)
			}
			if got, want := strings.Contains(row, "badge drift"), drifts[id] > 0; got != want {
				t.Errorf("%s: drift badge %v, want %v: %s", id, got, want, row)
			}
		}
	})

	t.Run("episodes", func(t *testing.T) {
		page := getPage(t, f.url+"/sensors/s25?group="+rankGroup)
		svg, _, _ := strings.Cut(page[max(strings.Index(page, `<svg xmlns="http://www.w3.org/2000/svg" id="episodeplot"`), 0):], "</svg>")
		axis := regexp.MustCompile(`<line class="axis" x1="([0-9.]+)" y1="[0-9.]+" x2="([0-9.]+)"`).FindStringSubmatch(svg)
		if axis == nil {
			t.Fatalf("no episode strip with an axis on the sensor page: %.3000s", page)
		}
		x1, _ := strconv.ParseFloat(axis[1], 64)
		x2, _ := strconv.ParseFloat(axis[2], 64)
		// Each episode from its opening event's sample time to its end
		// event's, the open one to the newest sample.
		type span struct {
			from, to int64
			label    string
		}
		var exp []span
		var open *span
		for _, e := range f.events {
			switch {
			case e.Sensor != "s25":
			case e.Kind == schema.EventAnomaly:
				exp = append(exp, span{e.SampleTS, f.newest, fmt.Sprintf("≥%g / open", math.Abs(*e.Z))})
				open = &exp[len(exp)-1]
			case e.Kind == schema.EventAnomalyEnd:
				open.to, open.label = e.SampleTS, fmt.Sprintf("%g / %d", *e.Peak, e.Count)
			}
		}
		lo, hi := exp[0].from, f.newest
		marks := regexp.MustCompile(`<rect class="episode[^"]*" x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"`).FindAllStringSubmatch(svg, -1)
		if len(marks) != len(exp) {
			t.Fatalf("%d episode marks, want %d: %s", len(marks), len(exp), svg)
		}
		for i, m := range marks {
			x, _ := strconv.ParseFloat(m[1], 64)
			w, _ := strconv.ParseFloat(m[2], 64)
			gotFrom, gotTo := (x-x1)/(x2-x1), (x+w-x1)/(x2-x1)
			wantFrom := float64(exp[i].from-lo) / float64(hi-lo)
			wantTo := float64(exp[i].to-lo) / float64(hi-lo)
			if math.Abs(gotFrom-wantFrom) > 0.005 || math.Abs(gotTo-wantTo) > 0.005 {
				t.Errorf("episode %d spans %.3f–%.3f of the axis, want %.3f–%.3f", i, gotFrom, gotTo, wantFrom, wantTo)
			}
			if !strings.Contains(svg, ">"+exp[i].label+"</text>") {
				t.Errorf("episode %d: no label %q in %s", i, exp[i].label, svg)
			}
		}
		_, tab, _ := strings.Cut(page, `<table id="episodes">`)
		tab, _, _ = strings.Cut(tab, "</table>")
		if n := strings.Count(tab, "<tr><td"); n != len(exp) {
			t.Errorf("the episodes table has %d rows, want %d", n, len(exp))
		}
	})
}
