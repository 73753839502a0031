package api

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"html/template"
	"iter"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/plot"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/view"
)

func (s *Server) plotSVG(w http.ResponseWriter, r *http.Request, v *view.View) {
	h, ok := s.sensorHistory(w, r, v)
	if !ok {
		return
	}
	b, err := plot.CurvesBytes(h, "svg")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"num": fmtNum,
	"ms":  plot.Stamp,
}).ParseFS(templateFiles, "templates/*.html"))

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// dashGroup resolves ?group= (default: the first view).
func (s *Server) dashGroup(w http.ResponseWriter, r *http.Request) *view.View {
	if len(s.Views) == 0 {
		http.Error(w, "no group is served", http.StatusServiceUnavailable)
		return nil
	}
	g := r.URL.Query().Get("group")
	if g == "" {
		return s.Views[0]
	}
	for _, v := range s.Views {
		if v.Group() == g {
			return v
		}
	}
	http.Error(w, fmt.Sprintf("group %q is not served here", short(g)), http.StatusNotFound)
	return nil
}

type dashModelCell struct {
	Present        bool
	MSE, RecentMSE float64
	Dist           float64 // ‖θ−θ*‖₂, NaN when θ* is unknown
}

type dashRow struct {
	ID       string
	Href     string
	Samples  uint64
	Rejected uint64
	Updated  string
	Models   []dashModelCell
	// The sensor's anomaly episodes opened and drifts of the last
	// RecentEvents; AtLeast: more may have happened than serve keeps per
	// sensor.
	history.Activity
}

type dashData struct {
	Group    string
	Groups   []string
	Ready    bool
	Models   []string
	HasTruth bool
	// HasEvents: the group's events are followed (a column of badges).
	HasEvents bool
	Rows      []dashRow
	After     string // the page starts after this ID ("": the first page)
	Total     int    // sensors in the view, from its running count
	Samples   uint64 // their samples, likewise
	Next      string
	Now       string
}

// RecentEvents is how far back the dashboard's badges count events.
const RecentEvents = time.Hour

// DashboardPage bounds the sensors on one dashboard page (?limit=).
const DashboardPage = 500

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	v := s.dashGroup(w, r)
	if v == nil {
		return
	}
	limit := DashboardPage
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > MaxPage {
			http.Error(w, fmt.Sprintf("limit %q: want a whole number in 1..%d", short(l), MaxPage), http.StatusBadRequest)
			return
		}
		limit = n
	}
	tot := v.Totals()
	d := dashData{Group: v.Group(), Ready: v.Recovered(), Now: time.Now().UTC().Format(time.RFC3339),
		After: r.URL.Query().Get("after"), Total: tot.Sensors, Samples: tot.Samples}
	for _, o := range s.Views {
		d.Groups = append(d.Groups, o.Group())
	}
	col := map[string]int{}
	more := false
	ev := s.eventsOf(v)
	d.HasEvents = ev != nil
	var ranked []history.Activity
	if ev != nil {
		ranked = rankActive(ev.Store().Active(time.Now().Add(-RecentEvents)))
	}
	for ds, err := range dashOrder(v, ranked, d.After) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(d.Rows) == limit {
			more = true
			break
		}
		sensor := ds.Sensor
		id := sensor.ID
		row := dashRow{ID: id, Href: sensorHref(v, id), Samples: sensor.Meta.Samples, Rejected: sensor.Meta.Rejected,
			Updated:  time.UnixMilli(sensor.Meta.Updated).UTC().Format("2006-01-02 15:04:05"),
			Activity: ds.act}
		var star []float64
		if sensor.Bank != nil {
			if ts := trueTheta(s.Truth, id, sensor.Bank.Dim, []uint64{sensor.Meta.Samples}); ts != nil {
				star, d.HasTruth = ts[0], true
			}
			for _, m := range sensor.Bank.Models {
				c, ok := col[m.Name]
				if !ok {
					c = len(d.Models)
					col[m.Name] = c
					d.Models = append(d.Models, m.Name)
				}
				for len(row.Models) <= c {
					row.Models = append(row.Models, dashModelCell{Dist: math.NaN()})
				}
				row.Models[c] = dashModelCell{Present: true, MSE: m.MSE, RecentMSE: m.RecentMSE, Dist: distance(m.Theta, star)}
			}
		}
		d.Rows = append(d.Rows, row)
	}
	for i := range d.Rows {
		for len(d.Rows[i].Models) < len(d.Models) {
			d.Rows[i].Models = append(d.Rows[i].Models, dashModelCell{Dist: math.NaN()})
		}
	}
	if more {
		q := url.Values{"after": {d.Rows[len(d.Rows)-1].ID}, "limit": {strconv.Itoa(limit)}}
		if v != s.Views[0] {
			q.Set("group", v.Group())
		}
		d.Next = "/?" + q.Encode()
	}
	render(w, "dashboard.html", d)
}

// dashSensor is a sensor of the dashboard with its recent events.
type dashSensor struct {
	*view.Sensor
	act history.Activity
}

// rankActive orders the sensors with recent events worst first: the most
// anomaly episodes, then drifts, then by ID as the view lists them.
func rankActive(act []history.Activity) []history.Activity {
	slices.SortFunc(act, func(a, b history.Activity) int {
		if c := cmp.Compare(b.Anomalies, a.Anomalies); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Drifts, a.Drifts); c != 0 {
			return c
		}
		return strings.Compare(a.Sensor, b.Sensor)
	})
	return act
}

// dashOrder yields the dashboard's sensors after the one with ID after:
// the ranked ones (only those the view holds) and then the others in the
// view's order. Only the ranked sensors of the page are looked up one by
// one; the rest is the view's ordered pass from the cursor, which leaves
// the ranked ones unread, so a page costs its rows and the events kept,
// not the sensors served. A cursor that is ranked resumes the ranking as
// it stands; one that is not resumes the view's order after it.
func dashOrder(v *view.View, ranked []history.Activity, after string) iter.Seq2[dashSensor, error] {
	return func(yield func(dashSensor, error) bool) {
		rank := make(map[string]int, len(ranked))
		for i, a := range ranked {
			rank[a.Sensor] = i
		}
		from, plainAfter := 0, ""
		if after != "" {
			if i, ok := rank[after]; ok {
				from = i + 1
			} else {
				from, plainAfter = len(ranked), after
			}
		}
		for _, a := range ranked[from:] {
			sensor, ok, err := v.Get(a.Sensor)
			if err != nil {
				yield(dashSensor{}, err)
				return
			}
			if ok && !yield(dashSensor{sensor, a}, nil) {
				return
			}
		}
		isRanked := func(id string) bool { _, ok := rank[id]; return ok }
		for sensor, err := range v.AllExcept(plainAfter, isRanked) {
			if err != nil {
				yield(dashSensor{}, err)
				return
			}
			if !yield(dashSensor{sensor, history.Activity{Sensor: sensor.ID}}, nil) {
				return
			}
		}
	}
}

func sensorHref(v *view.View, id string) string {
	return "/sensors/" + url.PathEscape(id) + "?group=" + url.QueryEscape(v.Group())
}

// distance is ‖a−b‖₂, NaN when b is unknown.
func distance(a, b []float64) float64 {
	if b == nil || len(a) != len(b) {
		return math.NaN()
	}
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}

type sensorModel struct {
	schema.Model
	Dist float64
}

type sensorData struct {
	Group     string
	Sensor    schema.Sensor
	Models    []sensorModel
	ThetaStar []float64
	Plot      template.HTML // inline SVG
	NoPlot    string        // why there is no plot
	Points    int
	APIBase   string
	HasEvents bool           // the group's events are followed
	Events    []schema.Event // the latest, newest first
	EventPlot template.HTML  // inline SVG of their z
	// Episodes are the anomaly episodes of the events kept, oldest first,
	// and EpisodePlot their strip on the sample-time axis.
	Episodes    []plot.Episode
	EpisodePlot template.HTML
}

func (s *Server) sensorPage(w http.ResponseWriter, r *http.Request) {
	v := s.dashGroup(w, r)
	if v == nil {
		return
	}
	id := r.PathValue("id")
	sensor, ok, err := v.Get(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !ok {
		http.Error(w, fmt.Sprintf("sensor %q not found in group %q", short(id), v.Group()), http.StatusNotFound)
		return
	}
	d := sensorData{Group: v.Group(), Sensor: sensorJSON(sensor, v.Group()),
		APIBase: "/v1/groups/" + url.PathEscape(v.Group()) + "/sensors/" + url.PathEscape(id)}
	if ts := trueTheta(s.Truth, id, d.Sensor.Dim, []uint64{sensor.Meta.Samples}); ts != nil {
		d.ThetaStar = ts[0]
	}
	for _, m := range d.Sensor.Models {
		d.Models = append(d.Models, sensorModel{Model: m, Dist: distance(m.Theta, d.ThetaStar)})
	}
	if ev := s.eventsOf(v); ev != nil {
		// One copy of the events kept: the episodes pair all of them, the
		// table and dots show the latest.
		all := ev.Store().Events(id, ev.Store().PerSensor())
		d.HasEvents, d.Events = true, all[:min(len(all), DefaultEventsLimit)]
		d.EventPlot = plot.EventsSVG(d.Events)
		d.Episodes = plot.Episodes(all, newestSample(all, sensor.Meta.Updated))
		d.EpisodePlot = plot.EpisodesSVG(d.Episodes)
	}
	if h := s.historyOf(v); h == nil {
		d.NoPlot = "no history is kept for this group"
	} else if hj, ok := HistoryOf(v.Group(), id, h.Store().Points(id), s.Truth); !ok {
		d.NoPlot = "no snapshots of this sensor yet (processors publish them when their snapshot-every or snapshot-interval is set)"
	} else {
		withFeatures(&hj, d.Sensor.Features)
		svg, err := plot.CurvesBytes(hj, "svg")
		if err != nil {
			d.NoPlot = err.Error()
		} else {
			if i := bytes.Index(svg, []byte("<svg")); i > 0 {
				svg = svg[i:]
			}
			d.Plot = template.HTML(svg) // produced by gonum/plot from numbers and escaped names
			d.Points = len(hj.Samples)
		}
	}
	render(w, "sensor.html", d)
}

// newestSample estimates the sample time (unix ms) of a sensor's newest
// sample, which its state does not keep: the latest event's sample time
// plus the processing time since that event (updated: when the state last
// changed, unix ms). evs are newest first.
func newestSample(evs []schema.Event, updated int64) int64 {
	newest := int64(0)
	for _, e := range evs {
		newest = max(newest, e.SampleTS)
	}
	if len(evs) == 0 || evs[0].SampleTS == 0 {
		return newest
	}
	if at, err := time.Parse(time.RFC3339Nano, evs[0].Time); err == nil && updated > at.UnixMilli() {
		newest = max(newest, evs[0].SampleTS+updated-at.UnixMilli())
	}
	return newest
}

func render(w http.ResponseWriter, name string, data any) {
	renderStatus(w, http.StatusOK, name, data)
}
