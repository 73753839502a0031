package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/processor"
)

// Scale is phase (s): serve's HTTP API over a table of Sensors sensors,
// filled by the processor from SamplesPerSensor single-sample binary
// messages per sensor.
type Scale struct {
	Sensors          int     `json:"sensors"`
	SamplesPerSensor int     `json:"samples_per_sensor"`
	Order            string  `json:"order"`            // of the samples that filled the table (Config.ScaleOrder)
	FillSeconds      float64 `json:"fill_seconds"`     // emit and process
	ReadySeconds     float64 `json:"ready_seconds"`    // serve's start to /readyz 200 (view recovery, cold)
	PageMs           float64 `json:"page_ms"`          // slowest of a few /v1/sensors pages (default limit)
	PageAllSeconds   float64 `json:"page_all_seconds"` // every sensor at limit=10000
	PagedSensors     int     `json:"paged_sensors"`
	PageAllMaxMs     float64 `json:"page_all_max_ms"` // slowest page of those
	DashboardMs      float64 `json:"dashboard_ms"`    // slowest of a few GET /
	MetricsMs        float64 `json:"metrics_ms"`      // slowest of a few GET /metrics
	Lookups          int     `json:"lookups"`
	LookupP50Ms      float64 `json:"lookup_p50_ms"`
	LookupP99Ms      float64 `json:"lookup_p99_ms"`
	ServeRSSMiB      float64 `json:"serve_rss_mib"`
}

// Orders of the samples that fill the table of (s) and the inputs of (p)
// (Config.ScaleOrder).
const (
	// ScaleOrderRoundRobin sends one sample of each sensor in turn, as
	// streamrls emit does: at S sensors a batch holds about one sample per
	// sensor, so the fill writes a state per sample.
	ScaleOrderRoundRobin = "round-robin"
	// ScaleOrderSensor sends each sensor's samples back to back (devices
	// that upload what they buffered): a state per sensor, the changelog a
	// compacted one would be. Serve's figures depend on the table, not on
	// the order that filled it, but its cold start reads the whole
	// changelog.
	ScaleOrderSensor = "sensor"
)

// scale is phase (s).
func (r *runner) scale(ctx context.Context) (*Scale, error) {
	res := &Scale{Sensors: r.cfg.Sensors, SamplesPerSensor: r.cfg.ScaleSamples, Order: r.cfg.ScaleOrder}
	count := int64(r.cfg.Sensors) * int64(res.SamplesPerSensor)
	topic := r.name("scale")
	names := r.names("scale", topic)
	r.log.Info("phase s: filling a table", "sensors", res.Sensors, "samples", count)
	start := time.Now()
	metrics := processor.NewMetrics(nil)
	stop, failed := r.runProcessor(ctx, names, r.dir(names.Group), r.cfg.BatchInterval, metrics, nil)
	prefillErr := make(chan error, 1)
	go func() {
		sr := *r
		sr.cfg.Format = codec.FormatBinary
		sr.sensorMajor = r.cfg.ScaleOrder == ScaleOrderSensor
		_, _, err := sr.prefill(ctx, topic, count, 1)
		prefillErr <- err
	}()
	_, _, err := poll(ctx, count, func() int64 { return int64(metrics.Written.Load()) }, nil, failed, r.cfg.Timeout)
	stop()
	if err == nil {
		err = <-prefillErr
	}
	if err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	res.FillSeconds = time.Since(start).Seconds()
	r.log.Info("phase s: table filled", "seconds", res.FillSeconds)

	serve, err := r.startChild("serve s", "serve", "--brokers", strings.Join(r.cfg.Kafka.Brokers, ","), "--group", names.Group,
		"--http", "127.0.0.1:0", "--state-dir", r.dir(names.Group+"-serve"), "--log-level", "info")
	if err != nil {
		return nil, err
	}
	defer stopChild(serve)
	t0 := time.Now()
	addr, err := serve.WaitAddr(ctx, "http listening", 30*time.Second)
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, client, base, serve, r.cfg.Timeout); err != nil {
		return nil, err
	}
	res.ReadySeconds = time.Since(t0).Seconds()
	if err := r.measureServe(ctx, client, base, res); err != nil {
		return nil, err
	}
	res.ServeRSSMiB = rssMiB(serve.Cmd.Process.Pid)
	return res, nil
}

// measureServe times serve's pages and lookups.
func (r *runner) measureServe(ctx context.Context, client *http.Client, base string, res *Scale) error {
	get := func(path string) ([]byte, time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, 0, err
		}
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, b)
		}
		return b, d, err
	}
	slowest := func(paths ...string) (float64, error) {
		var worst time.Duration
		for _, p := range paths {
			_, d, err := get(p)
			if err != nil {
				return 0, err
			}
			r.log.Info("phase s: GET", "path", p, "ms", d.Seconds()*1000)
			worst = max(worst, d)
		}
		return worst.Seconds() * 1000, nil
	}
	mid := url.QueryEscape(emitter.SensorID(r.cfg.Sensors / 2))
	var err error
	if res.PageMs, err = slowest("/v1/sensors", "/v1/sensors?after="+mid, "/v1/sensors?limit=10000&after="+mid, "/v1/sensors"); err != nil {
		return err
	}
	t := time.Now()
	for after := ""; ; {
		b, d, err := get("/v1/sensors?limit=10000&after=" + url.QueryEscape(after))
		if err != nil {
			return err
		}
		res.PageAllMaxMs = max(res.PageAllMaxMs, d.Seconds()*1000)
		var page struct {
			Sensors []string `json:"sensors"`
			Next    string   `json:"next"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return err
		}
		res.PagedSensors += len(page.Sensors)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	res.PageAllSeconds = time.Since(t).Seconds()
	if res.PagedSensors != r.cfg.Sensors {
		return fmt.Errorf("paging through serve's sensors gave %d of %d", res.PagedSensors, r.cfg.Sensors)
	}
	if res.DashboardMs, err = slowest("/", "/", "/?after="+mid, "/"); err != nil {
		return err
	}
	if res.MetricsMs, err = slowest("/metrics", "/metrics", "/metrics"); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 12))
	res.Lookups = 2000
	ds := make([]time.Duration, res.Lookups)
	for i := range ds {
		if _, ds[i], err = get("/v1/sensors/" + url.PathEscape(emitter.SensorID(rng.IntN(r.cfg.Sensors)))); err != nil {
			return err
		}
	}
	slices.Sort(ds)
	res.LookupP50Ms, res.LookupP99Ms = quantileMs(ds, 0.50), quantileMs(ds, 0.99)
	return nil
}

// rssMiB is a process's resident set size from /proc (0 where there is none).
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
