package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/topology"
)

// promQuery runs an instant query against Prometheus's API and returns
// each series' labels.
func promQuery(base, q string) ([]map[string]string, error) {
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		}
	}
	if code, err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil || code != 200 {
		return nil, fmt.Errorf("query %s: %d %v", q, code, err)
	}
	var out []map[string]string
	for _, s := range r.Data.Result {
		out = append(out, s.Metric)
	}
	return out, nil
}

// TestPrometheusRules runs Debian's real Prometheus with
// deploy/prometheus's files (after promtool checks them), rewritten to
// scrape a real `process --http --sensor-metrics` and `serve` every second
// and to wait one second for every alert. A burst of bad samples fires the
// dead-letter alert, and the per-sensor anomaly series names the sensor
// whose samples had outliers, and no other.
func TestPrometheusRules(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel() // mostly waits on its processes; runs beside the other parallel tests
	promBin := testkit.Require(t, "prometheus", "the rules test runs the real Prometheus")
	promtool := testkit.Require(t, "promtool", "checks deploy/prometheus's files")
	b, kc := testkit.Broker(t)
	proc := start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--scores", "--http", "127.0.0.1:0",
		"--sensor-metrics", "10")
	serve := startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	procAddr := strings.TrimPrefix(proc.HTTPURL(t), "http://")
	serveAddr := strings.TrimPrefix(serve.HTTPURL(t), "http://")

	dir := t.TempDir()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	conf := read("prometheus.yml")
	conf = regexp.MustCompile(`(scrape|evaluation)_interval: \w+`).ReplaceAllString(conf, "${1}_interval: 1s")
	conf = strings.Replace(conf, `["processor-1:9100", "processor-2:9100", "processor-3:9100"]`, `["`+procAddr+`"]`, 1)
	conf = strings.Replace(conf, `["view:8080"]`, `["`+serveAddr+`"]`, 1)
	conf = strings.Replace(conf, `["alertmanager:9093"]`, `["127.0.0.1:9"]`, 1)
	if !strings.Contains(conf, procAddr) || !strings.Contains(conf, serveAddr) {
		t.Fatalf("deploy/prometheus/prometheus.yml: the targets were not found to rewrite:\n%s", conf)
	}
	rules := regexp.MustCompile(`for: \w+`).ReplaceAllString(read("rules.yml"), "for: 1s")
	for name, text := range map[string]string{"prometheus.yml": conf, "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "config", filepath.Join(dir, "prometheus.yml")},
		{"check", "rules", filepath.Join("..", "deploy", "prometheus", "rules.yml")}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	addr := freeAddr(t)
	prom := testkit.Start(t, promBin, "prometheus", nil, "--config.file", filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path", filepath.Join(dir, "data"), "--web.listen-address", addr)
	base := "http://" + addr
	testkit.Eventually(t, 30*time.Second, func() error {
		if prom.Exited() {
			t.Fatalf("prometheus exited: %s", testkit.Tail(prom.Output(), 20))
		}
		// Both targets scraped and up.
		up, err := promQuery(base, `up == 1`)
		if err != nil {
			return err
		}
		var jobs []string
		for _, s := range up {
			jobs = append(jobs, s["job"])
		}
		slices.Sort(jobs)
		if !slices.Equal(jobs, []string{"process", "serve"}) {
			return fmt.Errorf("targets up: %v", jobs)
		}
		return nil
	})

	// "noisy" gets outliers after a clean warm-up, "quiet" none; then a
	// burst of undecodable samples.
	rng := rand.New(rand.NewPCG(5, 5))
	sample := func(off float64) string {
		x := []float64{rng.NormFloat64(), rng.NormFloat64()}
		return string(codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: x, Y: 2*x[0] - x[1] + 0.01*rng.NormFloat64() + off}}))
	}
	var kv []string
	for i := range 600 {
		off := 0.0
		if i >= 300 && i%30 == 0 {
			off = 0.5
		}
		kv = append(kv, "quiet", sample(0), "noisy", sample(off))
	}
	for range 300 {
		kv = append(kv, "bad", "not a sample")
	}
	emitRaw(t, kc, topology.DefaultInput, kv...)

	testkit.Eventually(t, 45*time.Second, func() error {
		firing, err := promQuery(base, `ALERTS{alertname="StreamrlsDeadLetters", alertstate="firing"}`)
		if err != nil {
			return err
		}
		if len(firing) == 0 {
			return fmt.Errorf("StreamrlsDeadLetters is not firing")
		}
		anomalies, err := promQuery(base, `sensor:streamrls_anomalies:increase1h > 0`)
		if err != nil {
			return err
		}
		var sensors []string
		for _, s := range anomalies {
			if !slices.Contains(sensors, s["sensor"]) {
				sensors = append(sensors, s["sensor"])
			}
		}
		if !slices.Equal(sensors, []string{"noisy"}) {
			return fmt.Errorf("sensors with anomalies: %v, want [noisy]", sensors)
		}
		return nil
	})
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs struct {
		Data struct{ Groups []json.RawMessage }
	}
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil || len(rs.Data.Groups) != 2 {
		t.Errorf("rules: %v, %d groups, want 2", err, len(rs.Data.Groups))
	}
}
