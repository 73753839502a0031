package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/alert"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// amAlert is an alert as Alertmanager's GET /api/v2/alerts and its webhook
// notifications show it.
type amAlert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
	Status   json.RawMessage   `json:"status"` // an object in the API, a string in notifications
}

// alertSink is the test's HTTP server: Alertmanager's webhook receiver
// (/am) and streamrls's --alert-webhook (/streamrls), whose every
// signature it checks.
type alertSink struct {
	t      *testing.T
	key    []byte
	mu     sync.Mutex
	notes  []amAlert // from Alertmanager, with status "firing" or "resolved"
	posted int       // alerts posted to /streamrls
}

func (s *alertSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/am":
		var n struct{ Alerts []amAlert }
		if err := json.Unmarshal(body, &n); err != nil {
			s.t.Errorf("alertmanager notification: %v: %s", err, body)
		}
		s.notes = append(s.notes, n.Alerts...)
	case "/streamrls":
		if got, want := r.Header.Get(alert.SignatureHeader), alert.Sign(s.key, body); got != want {
			s.t.Errorf("webhook signature %q, want %q", got, want)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var as []alert.Alert
		if err := json.Unmarshal(body, &as); err != nil {
			s.t.Errorf("webhook body: %v", err)
		}
		s.posted += len(as)
	}
}

func (s *alertSink) notified(status, name, sensor string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.notes {
		if string(a.Status) == strconv.Quote(status) && a.Labels["alertname"] == name && a.Labels["sensor"] == sensor {
			n++
		}
	}
	return n
}

// startAlertmanager runs Debian's prometheus-alertmanager with a webhook
// receiver at hook and returns its base URL.
func startAlertmanager(t *testing.T, bin, hook string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(conf, []byte(`route:
  receiver: test
  group_by: [alertname, group, sensor, model]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: `+hook+`
        send_resolved: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := testkit.Start(t, bin, "alertmanager", nil, "--config.file", conf, "--storage.path", filepath.Join(dir, "data"),
		"--web.listen-address", addr, "--cluster.listen-address=")
	base := "http://" + addr
	testkit.Eventually(t, 30*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("alertmanager exited: %s", testkit.Tail(p.Output(), 20))
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("ready: %s", resp.Status)
		}
		return nil
	})
	return base
}

// activeAlerts is Alertmanager's GET /api/v2/alerts.
func activeAlerts(base string) ([]amAlert, error) {
	var as []amAlert
	if code, err := getJSON(base+"/api/v2/alerts", &as); err != nil || code != 200 {
		return nil, fmt.Errorf("GET alerts: %d %v", code, err)
	}
	return as, nil
}

// TestAlertmanager: `emit --outliers` with a `--drift jump`, `process
// --scores` and two `serve --alertmanager --alert-webhook` replicas in
// front of Debian's real Alertmanager. Alertmanager lists a firing drift
// alert for every sensor and model that drifted, starting at the sample's
// time, and a firing anomaly alert for an episode left open; when the
// episode ends its alert is resolved (the webhook receiver is told so).
// Every alert appears once although both replicas post it, and every
// signature of --alert-webhook checks.
func TestAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel() // mostly waits on its processes; runs beside the other parallel tests
	amBin := testkit.Require(t, "prometheus-alertmanager", "the alerts test runs the real Alertmanager")
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 4*time.Minute)
	const sensors, perSensor, jump = 4, 800, 400
	runToEnd(t, 2*time.Minute, emitArgs(b.Addr(), sensors, sensors*perSensor, 11,
		"--outliers", "0.01:12", "--drift", "jump:"+strconv.Itoa(jump))...)

	sink := &alertSink{t: t, key: []byte("alert-s3cret")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: sink}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	hook := "http://" + ln.Addr().String()
	am := startAlertmanager(t, amBin, hook+"/am")

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, append(sink.key, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--scores")
	var urls []string
	for i := range 2 {
		p := startNamed(t, fmt.Sprintf("serve%d", i), "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(),
			"--http", "127.0.0.1:0", "--alertmanager", am, "--alert-webhook", hook+"/streamrls",
			"--alert-webhook-secret-file", secret, "--alert-label", "env=e2e", "--external-url", "http://streamrls.example/")
		urls = append(urls, p.HTTPURL(t))
	}
	v := testkit.StartView(t, ctx, kc, topology.DefaultGroup)
	waitApplied(t, v, sensors, perSensor, 2*time.Minute)
	names := topology.Names{}.WithDefaults()

	// Every drift of the topic has its firing alert, once.
	drifts := map[[2]string]time.Time{} // sensor, model → the last drift's sample time
	for _, e := range events(t, readTopic(t, ctx, b.Addr(), names.Events)) {
		if e.Kind == schema.EventDrift {
			at, err := time.Parse(time.RFC3339Nano, e.SampleTime)
			if err != nil {
				t.Fatalf("drift event's sample_time %q: %v", e.SampleTime, err)
			}
			k := [2]string{e.Sensor, e.Model}
			if drifts[k].IsZero() {
				drifts[k] = at // overlapping drift alerts merge into the first
			}
		}
	}
	if len(drifts) == 0 {
		t.Fatal("no drift events: the test needs some")
	}
	testkit.Eventually(t, time.Minute, func() error {
		as, err := uniqueAlerts(t, am)
		if err != nil {
			return err
		}
		for k, at := range drifts {
			a, ok := findAlert(as, alert.NameDrift, k[0], k[1])
			if !ok {
				return fmt.Errorf("no drift alert for sensor %s model %s", k[0], k[1])
			}
			if !a.StartsAt.Equal(at) || a.Labels["env"] != "e2e" || a.Labels["group"] != topology.DefaultGroup {
				t.Fatalf("drift alert %+v: want startsAt %v, env=e2e, group %s", a, at, topology.DefaultGroup)
			}
		}
		return nil
	})

	// A sensor of its own: a clean warm-up, then one gross outlier opens an
	// episode that stays open until normal samples follow.
	const alarm = "alarm"
	rng := rand.New(rand.NewPCG(3, 3))
	sample := func(off float64) string {
		x := []float64{rng.NormFloat64(), rng.NormFloat64()}
		return string(codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: x, Y: 2*x[0] - x[1] + 0.01*rng.NormFloat64() + off}}))
	}
	var kv []string
	for range 300 {
		kv = append(kv, alarm, sample(0))
	}
	emitRaw(t, kc, names.Input, append(kv, alarm, sample(0.5))...)
	var opened []schema.Event
	testkit.Eventually(t, time.Minute, func() error {
		opened = opened[:0]
		for _, e := range events(t, readTopic(t, ctx, b.Addr(), names.Events)) {
			if e.Sensor == alarm && e.Kind == schema.EventAnomaly {
				opened = append(opened, e)
			}
		}
		if len(opened) == 0 {
			return fmt.Errorf("no anomaly event of sensor %s", alarm)
		}
		return nil
	})
	testkit.Eventually(t, time.Minute, func() error {
		as, err := uniqueAlerts(t, am)
		if err != nil {
			return err
		}
		for _, e := range opened {
			a, ok := findAlert(as, alert.NameAnomaly, alarm, e.Model)
			if !ok {
				return fmt.Errorf("no anomaly alert for model %s", e.Model)
			}
			if at, _ := time.Parse(time.RFC3339Nano, e.SampleTime); !a.StartsAt.Equal(at) {
				t.Fatalf("anomaly alert %+v: want startsAt %v", a, at)
			}
		}
		if sink.notified("firing", alert.NameAnomaly, alarm) == 0 {
			return fmt.Errorf("the webhook receiver has not been notified of the anomaly")
		}
		return nil
	})

	// Normal samples end the episode: its alerts resolve.
	kv = kv[:0]
	for range 400 {
		kv = append(kv, alarm, sample(0))
	}
	emitRaw(t, kc, names.Input, kv...)
	testkit.Eventually(t, time.Minute, func() error {
		if n := sink.notified("resolved", alert.NameAnomaly, alarm); n < len(opened) {
			var kinds []string
			for _, e := range events(t, readTopic(t, ctx, b.Addr(), names.Events)) {
				if e.Sensor == alarm {
					kinds = append(kinds, e.Kind+"@"+e.SampleTime)
				}
			}
			sink.mu.Lock()
			notes := fmt.Sprint(sink.notes)
			sink.mu.Unlock()
			return fmt.Errorf("%d resolved notifications of %d anomaly alerts; events %v; notes %s", n, len(opened), kinds, notes)
		}
		as, err := activeAlerts(am)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.Labels["alertname"] == alert.NameAnomaly && a.Labels["sensor"] == alarm && strings.Contains(string(a.Status), `"active"`) {
				return fmt.Errorf("anomaly alert still active: %s", a.Status)
			}
		}
		return nil
	})

	// Both replicas posted; nothing failed or was dropped; the webhook got
	// signed alerts.
	for _, u := range urls {
		fams := scrape(t, u)
		for _, r := range []string{"alertmanager", "webhook"} {
			if n, _ := value(fams, "streamrls_alerts_sent_total", "receiver", r); n == 0 {
				t.Errorf("%s: no alerts sent to %s", u, r)
			}
			for _, m := range []string{"streamrls_alerts_failed_total", "streamrls_alerts_dropped_total"} {
				if n, ok := value(fams, m, "receiver", r); !ok || n != 0 {
					t.Errorf("%s: %s{receiver=%q} = %v (present %v), want 0", u, m, r, n, ok)
				}
			}
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.posted == 0 {
		t.Error("nothing was posted to --alert-webhook")
	}
	// Alertmanager notified each anomaly alert firing at most once,
	// whichever replica posted it first.
	seen := map[string]int{}
	for _, a := range sink.notes {
		if a.Labels["sensor"] == alarm && string(a.Status) == `"firing"` {
			seen[a.Labels["model"]+" "+a.StartsAt.String()]++
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("anomaly alert %s notified firing %d times", k, n)
		}
	}
}

// uniqueAlerts is activeAlerts of base; t fails if two of them have the
// same labels (both replicas posted each alert).
func uniqueAlerts(t *testing.T, base string) ([]amAlert, error) {
	as, err := activeAlerts(base)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, a := range as {
		b, _ := json.Marshal(a.Labels)
		if seen[string(b)] {
			t.Fatalf("alert %s is listed twice", b)
		}
		seen[string(b)] = true
	}
	return as, nil
}

// findAlert is the alert of as named name for sensor and model.
func findAlert(as []amAlert, name, sensor, model string) (amAlert, bool) {
	i := slices.IndexFunc(as, func(a amAlert) bool {
		return a.Labels["alertname"] == name && a.Labels["sensor"] == sensor && a.Labels["model"] == model
	})
	if i < 0 {
		return amAlert{}, false
	}
	return as[i], true
}
