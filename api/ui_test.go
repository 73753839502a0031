package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// pipeline is one run of the whole pipeline with a drifting θ*: emitter →
// embedded broker → processor (publishing snapshots) → view + history →
// HTTP server.
type pipeline struct {
	url       string
	srv       *api.Server
	hist      *history.Follower
	events    []schema.Event // produced to GROUP-events, oldest first
	kc        kafkaconf.Kafka
	names     topology.Names
	specs     []rls.Spec
	base      []float64
	xs        [][][]float64 // per sensor, what the emitter sent
	ys        [][]float64
	truth     *emitter.Truth
	sensors   int
	dim, jump int
	perSensor int
	every     uint64
	batch     int
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	_, kc := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := &pipeline{kc: kc, names: topology.Names{}.WithDefaults(), specs: rls.DefaultSpecs(),
		sensors: 4, dim: 4, jump: 1000, perSensor: 3000, every: 100, batch: 4}
	p.base = emitter.DefaultTheta(p.dim)
	if err := processor.EnsureTopics(kc, p.names, 4); err != nil {
		t.Fatal(err)
	}
	cfg := emitter.Config{Kafka: kc, Topic: p.names.Input, Sensors: p.sensors, Dim: p.dim, Count: int64(p.sensors * p.perSensor),
		Batch: p.batch, Linger: time.Hour, Format: codec.FormatJSON, Seed: 5, Noise: 0.1,
		Drift: emitter.Drift{Kind: emitter.DriftJump, After: uint64(p.jump)}}
	if n, err := emitter.Run(ctx, cfg); err != nil || n != cfg.Count {
		t.Fatalf("emit: %d of %d: %v", n, cfg.Count, err)
	}
	// What was sent, regenerated.
	gen := emitter.NewGenerator(p.sensors, p.dim, p.base, 0.1, 5).WithDrift(cfg.Drift)
	p.xs, p.ys = make([][][]float64, p.sensors), make([][]float64, p.sensors)
	for k := 0; k < p.sensors*p.perSensor; k++ {
		i := k % p.sensors
		x := make([]float64, p.dim)
		s := gen.Next(i, x)
		p.xs[i], p.ys[i] = append(p.xs[i], x), append(p.ys[i], s.Y)
	}
	p.truth = emitter.NewTruth(cfg)

	done := make(chan struct{})
	go func() {
		defer close(done)
		// No anomaly or drift events of the processor's own (the drifting
		// data would raise many): the test produces the events it checks.
		quiet := &rls.Scoring{DriftOff: true, AnomalyZ: math.Inf(1)}
		if err := processor.Run(ctx, processor.Config{Names: p.names, Kafka: kc, Learner: processor.RLS{Specs: p.specs, Scoring: quiet},
			StateDir: t.TempDir(), Snapshots: processor.Snapshots{Every: p.every}}); err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	var v *view.View
	testkit.Eventually(t, 30*time.Second, func() (err error) {
		v, err = view.New(view.Config{Group: p.names.Group, Kafka: kc, StateDir: t.TempDir()})
		return err
	})
	go v.Run(ctx)
	h, err := history.NewFollower(history.FollowerConfig{Group: p.names.Group, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	go h.Run(ctx)
	p.hist = h
	ef := p.startEvents(t, ctx)
	p.srv = &api.Server{Views: []*view.View{v}, Histories: []*history.Follower{h}, Truth: p.truth,
		Events: []*history.EventFollower{ef}}
	ts := httptest.NewServer(p.srv.Handler())
	t.Cleanup(ts.Close)
	p.url = ts.URL

	testkit.Eventually(t, time.Minute, func() error {
		for i := 0; i < p.sensors; i++ {
			id := emitter.SensorID(i)
			s, ok, err := v.Get(id)
			if err != nil || !ok || s.Meta.Samples != uint64(p.perSensor) {
				return fmt.Errorf("sensor %s not complete in the view (%v, %v)", id, ok, err)
			}
			if l, ok := h.Store().Latest(id); !ok || l.Samples != uint64(p.perSensor) {
				return fmt.Errorf("sensor %s: history at %d samples", id, l.Samples)
			}
		}
		return nil
	})
	return p
}

// startEvents produces events of sensors 0 and 1 to GROUP-events (the
// processor of this test scores nothing) and follows them until they are
// all kept.
func (p *pipeline) startEvents(t *testing.T, ctx context.Context) *history.EventFollower {
	t.Helper()
	now := time.Now().UTC()
	z, st := 7.25, 1.5
	for i, ago := range []time.Duration{3 * time.Hour, 2 * time.Hour, time.Minute, time.Second} {
		e := schema.Event{Sensor: emitter.SensorID(i % 2), Model: p.specs[0].Name, Kind: schema.EventAnomaly,
			Partition: int32(i), Offset: int64(10 * i), Samples: uint64(100 * (i + 1)), Z: &z,
			Time: now.Add(-ago).Format(time.RFC3339Nano)}
		if i == 2 {
			e.Kind, e.Z, e.Statistic = schema.EventDrift, nil, &st
		}
		p.events = append(p.events, e)
	}
	testkit.ProduceEvents(t, p.kc, history.EventsTopic(p.names.Group), 4, p.events...)
	return followEvents(t, ctx, p.kc, p.names.Group, len(p.events))
}

// followEvents follows group's events until the follower is ready and
// keeps want of them.
func followEvents(t *testing.T, ctx context.Context, kc kafkaconf.Kafka, group string, want int) *history.EventFollower {
	t.Helper()
	ef, err := history.NewEventFollower(history.EventFollowerConfig{Group: group, Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	go ef.Run(ctx)
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := ef.Store().Len(); n != want || !ef.Ready() {
			return fmt.Errorf("events follower: %d of %d events, ready %v", n, want, ef.Ready())
		}
		return nil
	})
	return ef
}

// getBody returns the body of GET url, failing the test unless the status
// is want.
func getBody(t *testing.T, url string, want int) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d: %.500s", url, resp.Status, want, b)
	}
	return b
}

func getJSON(t *testing.T, url string, want int, out any) {
	t.Helper()
	b := getBody(t, url, want)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
}

func dist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

func relErr(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		num = math.Max(num, math.Abs(got[i]-want[i]))
		den = math.Max(den, math.Abs(want[i]))
	}
	return num / math.Max(den, 1e-300)
}

// TestDriftHistoryDashboard runs the pipeline once with θ* jumping to −θ*
// and checks what each part shows of it: the models (against the
// closed-form oracle and the new θ*), the history API (points, θ at each
// point against the oracle of the samples so far, θ*), plot.svg, the HTML
// dashboard in headless Chromium, and goka's UI under /goka/.
func TestDriftHistoryDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	p := startPipeline(t)
	newStar := make([]float64, p.dim)
	for j, v := range p.base {
		newStar[j] = -v
	}

	t.Run("drift", func(t *testing.T) {
		for i := 0; i < p.sensors; i++ {
			var s schema.Sensor
			getJSON(t, p.url+"/v1/sensors/"+emitter.SensorID(i), 200, &s)
			for j, m := range s.Models {
				want, _, err := rlstest.Oracle(p.specs[j], p.xs[i], p.ys[i])
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(m.Theta, want); e > 1e-9 {
					t.Errorf("sensor %s %s: θ off the oracle by %.3g", s.Sensor, m.Name, e)
				}
			}
			slow, fast := s.Models[0], s.Models[1] // mod1 λ=1, mod2 λ=0.99
			if d := dist(fast.Theta, newStar); d > 0.1 {
				t.Errorf("sensor %s: λ=0.99 model is %.3f from the new θ*", s.Sensor, d)
			}
			if d := dist(slow.Theta, newStar); d < 0.5 {
				t.Errorf("sensor %s: λ=1 model is %.3f from the new θ*: it should not have followed the jump", s.Sensor, d)
			}
			t.Logf("sensor %s: ‖θ−θ*‖ λ=1 %.3f, λ=0.99 %.3f", s.Sensor, dist(slow.Theta, newStar), dist(fast.Theta, newStar))
		}
	})

	t.Run("events", func(t *testing.T) {
		for path, want := range map[string][]schema.Event{
			"/v1/sensors/1/events":                     {p.events[2], p.events[0]},
			"/v1/sensors/1/events?limit=1":             {p.events[2]},
			"/v1/groups/rls/sensors/2/events?limit=20": {p.events[3], p.events[1]},
			"/v1/sensors/3/events":                     {},
		} {
			var got schema.Events
			getJSON(t, p.url+path, 200, &got)
			if !reflect.DeepEqual(got.Events, want) || got.Group != "rls" {
				t.Errorf("GET %s: %+v, want %+v", path, got, want)
			}
		}
		// The client asks the same.
		got, err := (&client.Client{BaseURL: p.url, Group: "rls"}).Events(context.Background(), "2", 1)
		if err != nil || !reflect.DeepEqual(got.Events, []schema.Event{p.events[3]}) {
			t.Errorf("client Events: %+v, %v", got, err)
		}
		getJSON(t, p.url+"/v1/sensors/1/events?limit=101", 400, nil)
		getJSON(t, p.url+"/v1/sensors/nope/events", 404, nil)
	})

	t.Run("predict", func(t *testing.T) {
		// sd, lo and hi from the bank's θ, P and σ̂², computed here.
		s, ok, err := p.srv.Views[0].Get("4")
		if err != nil || !ok {
			t.Fatalf("sensor 4: %v %v", ok, err)
		}
		x := []float64{0.5, -1, 2, 0.25}
		var got schema.Predictions
		postJSON(t, p.url+"/v1/sensors/4/predict", `{"x": [0.5, -1, 2, 0.25]}`, &got)
		var sj schema.Sensor
		getJSON(t, p.url+"/v1/sensors/4", 200, &sj)
		if got.Level != 0.95 || len(got.Predictions) != len(s.Bank.Models) {
			t.Fatalf("predict: %+v", got)
		}
		for i, m := range s.Bank.Models {
			n := m.Dim
			y, xpx := 0.0, 0.0
			for r := range n {
				y += x[r] * m.Theta[r]
				for c := range n {
					xpx += x[r] * m.P[r*n+c] * x[c]
				}
			}
			sd := math.Sqrt(m.Sigma2 * (m.Lambda + xpx) / m.Lambda)
			const q = 1.959963984540054
			pr := got.Predictions[i]
			if pr.SD == nil || pr.Lo == nil || pr.Hi == nil {
				t.Fatalf("model %s: no interval: %+v", m.Name, pr)
			}
			for _, c := range [][2]float64{{pr.Y, y}, {*pr.SD, sd}, {*pr.Lo, y - q*sd}, {*pr.Hi, y + q*sd}} {
				if e := relErr([]float64{c[0]}, []float64{c[1]}); e > 1e-12 {
					t.Errorf("model %s: %v, want %v", m.Name, c[0], c[1])
				}
			}
			mj := sj.Models[i]
			if mj.Sigma2 == nil || *mj.Sigma2 != m.Sigma2 || mj.Anomalies != m.Anomalies || mj.Drifts != m.Drifts {
				t.Errorf("GET model %s: sigma2 %v anomalies %d drifts %d; the bank has %v, %d, %d",
					m.Name, mj.Sigma2, mj.Anomalies, mj.Drifts, m.Sigma2, m.Anomalies, m.Drifts)
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		var h schema.History
		getJSON(t, p.url+"/v1/sensors/2/history", 200, &h)
		want := []uint64{uint64(p.batch)} // the first message, then each multiple of every
		for n := p.every; n <= uint64(p.perSensor); n += p.every {
			want = append(want, n)
		}
		if !reflect.DeepEqual(h.Samples, want) {
			t.Fatalf("points at %v, want %v", h.Samples, want)
		}
		if len(h.Models) != 2 || h.Models[0].Name != "mod1" || h.Models[1].Lambda != 0.99 || h.Dim != p.dim {
			t.Fatalf("models %+v dim %d", h.Models, h.Dim)
		}
		for k, n := range h.Samples {
			star := p.base
			if n > uint64(p.jump) {
				star = newStar
			}
			if !reflect.DeepEqual(h.ThetaStar[k], star) {
				t.Errorf("θ* at %d: %v, want %v", n, h.ThetaStar[k], star)
			}
			if k%7 != 0 && n != uint64(p.jump) {
				continue // the oracle at every 7th point and at the jump
			}
			for j, spec := range p.specs {
				th, _, err := rlstest.Oracle(spec, p.xs[1][:n], p.ys[1][:n])
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(h.Models[j].Theta[k], th); e > 1e-9 {
					t.Errorf("point at %d samples, %s: θ off the oracle by %.3g", n, spec.Name, e)
				}
			}
		}
		if m := h.Models[1]; !(m.MSE[len(m.MSE)-1] > 0) || m.RecentMSE[len(m.RecentMSE)-1] > 0.05 {
			t.Errorf("λ=0.99 MSE %v, recent MSE %v at the end", m.MSE[len(m.MSE)-1], m.RecentMSE[len(m.RecentMSE)-1])
		}
		getJSON(t, p.url+"/v1/sensors/99/history", 404, nil)
		getJSON(t, p.url+"/v1/groups/rls/sensors/2/history", 200, nil)

		// Snapshots delivered twice (as after a crash) add no point.
		before := p.hist.Messages()
		kept := p.hist.Store().Points("2")
		prod := testkit.PartitionProducer(t, p.kc)
		for _, dup := range []schema.Snapshot{kept[10], kept[len(kept)-1]} {
			b, _ := dup.Encode()
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: p.names.Snapshots, Partition: 0,
				Key: sarama.StringEncoder("2"), Value: sarama.ByteEncoder(b)}); err != nil {
				t.Fatal(err)
			}
		}
		testkit.Eventually(t, 10*time.Second, func() error {
			if n := p.hist.Messages() - before; n != 2 {
				return fmt.Errorf("%d of 2 duplicates read", n)
			}
			return nil
		})
		var again schema.History
		getJSON(t, p.url+"/v1/sensors/2/history", 200, &again)
		if !reflect.DeepEqual(again.Samples, h.Samples) {
			t.Errorf("after a duplicate: points %v", again.Samples)
		}
	})

	t.Run("plot.svg", func(t *testing.T) {
		resp, err := http.Get(p.url + "/v1/sensors/3/plot.svg")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		paths, texts := svgContent(t, b)
		// θ and θ* of every coefficient of both models, and two MSE curves each.
		if min := 2*2*p.dim + 2*2; paths < min {
			t.Errorf("%d paths, want at least %d curves", paths, min)
		}
		for _, want := range []string{"mod1 (λ=1, δ=10)", "mod2 (λ=0.99, δ=1)", "mod2 recent MSE", "θ* (true, dashed)", "samples"} {
			if !strings.Contains(texts, want) {
				t.Errorf("no text %q in the plot", want)
			}
		}
	})

	t.Run("goka", func(t *testing.T) {
		for path, want := range map[string]int{
			"/goka/": 200, "/goka/monitor/": 200, "/goka/monitor/view/0": 200, "/goka/monitor/data/view/0": 200,
			"/goka/monitor/view/1": 404, "/goka/monitor/data/view/1": 404, "/goka/monitor/processor/0": 404,
			"/goka/query/rls-table/1": 200,
		} {
			resp, err := http.Get(p.url + path)
			if err != nil {
				t.Fatalf("GET %s: %v (did the server fall over?)", path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s: %d, want %d: %.200s", path, resp.StatusCode, want, b)
			}
			if path == "/goka/query/rls-table/1" && !bytes.Contains(b, []byte(`&#34;samples&#34;: 3000`)) {
				t.Errorf("goka query page does not show sensor 1's state: %.2000s", b)
			}
		}
		getJSON(t, p.url+"/healthz", 200, nil)
	})

	t.Run("dashboard", func(t *testing.T) {
		chromium := testkit.Require(t, "chromium", "the dashboard is checked in a real browser")
		dom := browse(t, chromium, p.url+"/", "")
		for i := 0; i < p.sensors; i++ {
			id := emitter.SensorID(i)
			link := fmt.Sprintf(`<a href="/sensors/%s?group=rls">%s</a>`, id, id)
			if !strings.Contains(dom, link) {
				t.Errorf("sensor %s is not listed: no %s in\n%s", id, link, dom)
			}
		}
		rows := strings.Count(tableOf(dom, "sensors"), "<tr>")
		if rows != p.sensors+1 {
			t.Errorf("%d table rows, want a header and %d sensors", rows, p.sensors)
		}
		// Events of the last hour: sensor 1 a drift (its anomaly is 3 h
		// old), sensor 2 an anomaly (the other is 2 h old), 3 none.
		rowOf := func(id string) string {
			tab := tableOf(dom, "sensors")
			i := strings.Index(tab, fmt.Sprintf(`<a href="/sensors/%s?group=rls">`, id))
			if i < 0 {
				return ""
			}
			row, _, _ := strings.Cut(tab[i:], "</tr>")
			return row
		}
		for id, want := range map[string][]string{"1": {">1 drift<"}, "2": {">1 anomaly<"}, "3": nil} {
			row := rowOf(id)
			for _, w := range want {
				if !strings.Contains(row, w) {
					t.Errorf("sensor %s's row has no badge %q: %s", id, w, row)
				}
			}
			if n := strings.Count(row, `class="badge`); n != len(want) {
				t.Errorf("sensor %s's row has %d badges, want %d: %s", id, n, len(want), row)
			}
		}
		totals := fmt.Sprintf("%d sensors, %d samples", p.sensors, p.sensors*p.perSensor)
		for _, want := range []string{"mod1 MSE", "mod2 recent MSE", "mod2 ‖θ−θ*‖", "<td>3000</td>", totals} {
			if !strings.Contains(dom, want) {
				t.Errorf("the dashboard does not show %q", want)
			}
		}

		shot := filepath.Join(t.TempDir(), "sensor.png")
		dom = browse(t, chromium, p.url+"/sensors/1?group=rls", shot)
		plot := tableOf(dom, "plot")
		if !strings.Contains(plot, "<svg") || strings.Count(plot, "<path") < 2*2*p.dim {
			t.Fatalf("the sensor page shows no curves: %.3000s", dom)
		}
		if !strings.Contains(dom, "mod2 (λ=0.99, δ=1)") {
			t.Error("the plot's title is not on the sensor page")
		}
		// Sensor 1's two events, newest first, and their marks.
		if n := strings.Count(tableOf(dom, "events"), "<tr>"); n != 3 {
			t.Errorf("the sensor page lists %d event rows, want a header and 2", n)
		}
		if plot := tableOf(dom, "eventplot"); !strings.Contains(plot, `class="drift"`) || !strings.Contains(plot, `class="anomaly"`) {
			t.Errorf("the events plot lacks a drift or an anomaly: %.1000s", plot)
		}
		// What a person sees: the screenshot holds the curves' colours.
		img := readPNG(t, shot)
		for _, c := range [][3]uint32{{31, 119, 180}, {255, 127, 14}} {
			if n := countColour(img, c); n < 200 {
				t.Errorf("the screenshot has %d pixels of curve colour %v", n, c)
			}
		}
	})

	t.Run("login", func(t *testing.T) {
		chromium := testkit.Require(t, "chromium", "the login is checked in a real browser")
		browserLogin(t, chromium, p.srv.Handler(), func(dom string) {
			link := `<a href="/sensors/1?group=rls">1</a>`
			if !strings.Contains(dom, link) || !strings.Contains(tableOf(dom, "sensors"), "<tr>") {
				t.Errorf("logged in, the dashboard does not list sensor 1: %.2000s", dom)
			}
		})
	})
}

// svgContent parses an SVG and counts its paths and collects its text.
func svgContent(t *testing.T, b []byte) (paths int, texts string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var sb strings.Builder
	inText, root := false, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plot.svg does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			if e.Name.Local == "path" {
				paths++
			}
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				sb.Write(e)
				sb.WriteByte('\n')
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	return paths, sb.String()
}

// browse loads url in headless Chromium and returns the DOM it rendered;
// with shot it also writes a screenshot there.
func browse(t *testing.T, chromium, url, shot string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1100,1300"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	if shot != "" {
		cmd := exec.CommandContext(ctx, chromium, append(args, "--screenshot="+shot, url)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chromium --screenshot %s: %v: %s", url, err, b)
		}
	}
	return string(out)
}

// tableOf returns the element with the given id and what follows it.
func tableOf(dom, id string) string {
	i := strings.Index(dom, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	return dom[i:]
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

func countColour(img image.Image, c [3]uint32) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if absDiff(r>>8, c[0]) <= 8 && absDiff(g>>8, c[1]) <= 8 && absDiff(bl>>8, c[2]) <= 8 {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func postJSON(t *testing.T, url, body string, out any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("POST %s: %v: %s", url, err, b)
	}
}
