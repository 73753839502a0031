package e2e

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/lovoo/goka"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// emitRaw sends raw values under keys to a topic.
func emitRaw(t *testing.T, kc kafkaconf.Kafka, topic string, kv ...string) {
	t.Helper()
	opts, err := kc.EmitterOptions()
	if err != nil {
		t.Fatal(err)
	}
	em, err := goka.NewEmitter(kc.Brokers, goka.Stream(topic), new(codec.Bytes), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := em.EmitSync(kv[i], []byte(kv[i+1])); err != nil {
			t.Fatalf("emit %q to %s: %v", kv[i], topic, err)
		}
	}
	if err := em.Finish(); err != nil {
		t.Fatal(err)
	}
}

// TestMetrics scrapes /metrics of a real `process --http` and `serve` and
// checks the figures against what was sent and asked.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	const sensors, dim, count, partitions = 3, 4, 3000, 4
	n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: topology.DefaultInput, Partitions: partitions,
		Sensors: sensors, Dim: dim, Count: count, Format: codec.FormatJSON, Seed: 5})
	if err != nil || n != count {
		t.Fatalf("emit: %d of %d: %v", n, count, err)
	}
	emitRaw(t, kc, topology.DefaultInput, "1", "not a sample", "2", "[1, 2")

	proc := startNamed(t, "process", "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(),
		"--http", "127.0.0.1:0", "--sensor-metrics", "2", "--session-timeout", "2s")
	pURL := proc.HTTPURL(t)

	const messages = count + 2
	// The processor: counts equal what was sent, and once everything is
	// processed the lag is 0 in every partition and every table partition
	// is recovered. (Polled: a callback's histograms are observed just after
	// its counters.)
	procWant := []want{
		{"streamrls_samples_applied_total", nil, count},
		{"streamrls_messages_total", nil, messages},
		{"streamrls_samples_rejected_total", []string{"reason", "decode"}, 2},
		{"streamrls_samples_rejected_total", []string{"reason", "dimension"}, 0},
		{"streamrls_sensors_created_total", nil, sensors},
		{"streamrls_update_duration_seconds", nil, messages}, // histogram: sample count
		{"streamrls_update_delay_seconds", nil, count},       // only messages that applied samples
		{"streamrls_processor_recovered", nil, 1},
	}
	for p := 0; p < partitions; p++ {
		procWant = append(procWant,
			want{"streamrls_consumer_lag", []string{"topic", topology.DefaultInput, "partition", fmt.Sprint(p)}, 0},
			want{"streamrls_table_recovered", []string{"partition", fmt.Sprint(p)}, 1})
	}
	var pm map[string]*dto.MetricFamily
	testkit.Eventually(t, 60*time.Second, func() error {
		var err error
		if pm, err = tryScrape(pURL); err != nil {
			return err
		}
		if n := len(series(pm, "streamrls_consumer_lag")); n != partitions {
			return fmt.Errorf("lag reported for %d partitions, want %d", n, partitions)
		}
		if n := len(series(pm, "streamrls_table_recovered")); n != partitions {
			return fmt.Errorf("recovery reported for %d partitions, want %d", n, partitions)
		}
		return check(pm, nil, procWant)
	})
	if fams := ownFamilies(pm); len(fams) < 4 {
		t.Errorf("process /metrics has %d streamrls_ families, want ≥ 4: %v", len(fams), fams)
	}

	// serve (started once the table exists: serve needs it), ready, the
	// sensors counted.
	serve := startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	sURL := serve.HTTPURL(t)
	testkit.Eventually(t, 30*time.Second, func() error {
		var all schema.Sensors
		if code, err := getJSON(sURL+"/v1/sensors", &all); err != nil || code != 200 {
			return fmt.Errorf("list: %d %v", code, err)
		}
		if len(all.Sensors) != sensors {
			return fmt.Errorf("%d sensors served", len(all.Sensors))
		}
		if code, _ := getJSON(sURL+"/readyz", nil); code != 200 {
			return fmt.Errorf("readyz %d", code)
		}
		return nil
	})
	before := scrape(t, sURL)

	// Per-sensor gauges: exactly --sensor-metrics sensors, equal to the API.
	gauged := map[string]bool{}
	for _, l := range series(pm, "streamrls_sensor_mse") {
		gauged[l["sensor"]] = true
	}
	if len(gauged) != 2 {
		t.Errorf("streamrls_sensor_mse for %d sensors, want 2 (--sensor-metrics 2): %v", len(gauged), gauged)
	}
	lookups := 0
	for i := 0; i < sensors; i++ {
		id := emitter.SensorID(i)
		s, code, err := sensorAPI(sURL, id)
		lookups++
		if err != nil || code != 200 {
			t.Fatalf("GET sensor %s: %d %v", id, code, err)
		}
		if !gauged[id] {
			continue
		}
		if v, _ := value(pm, "streamrls_sensor_samples", "sensor", id); v != float64(s.Samples) {
			t.Errorf("sensor %s: streamrls_sensor_samples %v, API %d", id, v, s.Samples)
		}
		for _, m := range s.Models {
			v, _ := value(pm, "streamrls_sensor_mse", "sensor", id, "model", m.Name)
			r, _ := value(pm, "streamrls_sensor_recent_mse", "sensor", id, "model", m.Name)
			if math.Float64bits(v) != math.Float64bits(m.MSE) || math.Float64bits(r) != math.Float64bits(m.RecentMSE) {
				t.Errorf("sensor %s %s: gauges mse %v recent %v, API %v %v", id, m.Name, v, r, m.MSE, m.RecentMSE)
			}
		}
	}
	if _, code, _ := sensorAPI(sURL, "no-such-sensor"); code != http.StatusNotFound {
		t.Errorf("unknown sensor: %d", code)
	}
	var pred schema.Predictions
	if code, err := postJSON(sURL+"/v1/sensors/1/predict", schema.PredictRequest{X: make([]float64, dim)}, &pred); err != nil || code != 200 {
		t.Errorf("predict: %d %v", code, err)
	}

	// serve: the requests and lookups above, counted by route, code and
	// result (polled: a request is counted just after its answer is sent).
	serveWant := []want{
		{"streamrls_http_requests_total", []string{"route", "GET /v1/sensors/{id}", "code", "200"}, float64(lookups)},
		{"streamrls_http_requests_total", []string{"route", "GET /v1/sensors/{id}", "code", "404"}, 1},
		{"streamrls_http_requests_total", []string{"route", "POST /v1/sensors/{id}/predict", "code", "200"}, 1},
		{"streamrls_http_request_duration_seconds", []string{"route", "GET /v1/sensors/{id}"}, float64(lookups + 1)},
		{"streamrls_lookups_total", []string{"group", "rls", "result", "found"}, float64(lookups + 1)},
		{"streamrls_lookups_total", []string{"group", "rls", "result", "not_found"}, 1},
	}
	serveNow := []want{
		{"streamrls_view_sensors", []string{"group", "rls"}, sensors},
		{"streamrls_view_recovered", []string{"group", "rls"}, 1},
		{"streamrls_view_state", []string{"group", "rls", "state", "running"}, 1},
		{"streamrls_view_state", []string{"group", "rls", "state", "catching_up"}, 0},
	}
	var after map[string]*dto.MetricFamily
	testkit.Eventually(t, 10*time.Second, func() error {
		var err error
		if after, err = tryScrape(sURL); err != nil {
			return err
		}
		if err := check(after, before, serveWant); err != nil {
			return err
		}
		return check(after, nil, serveNow)
	})
	if fams := ownFamilies(after); len(fams) < 4 {
		t.Errorf("serve /metrics has %d streamrls_ families, want ≥ 4: %v", len(fams), fams)
	}
	if v, _ := value(after, "streamrls_http_requests_total", "route", "GET /metrics", "code", "200"); v < 1 {
		t.Errorf("the scrapes of /metrics were not counted: %v", v)
	}
}

// want is one expected value of a series (for a histogram, its count).
type want struct {
	name   string
	labels []string
	v      float64
}

// check compares fams with wants; with base, the growth since base.
func check(fams, base map[string]*dto.MetricFamily, wants []want) error {
	for _, w := range wants {
		v, ok := value(fams, w.name, w.labels...)
		if !ok {
			return fmt.Errorf("%s%v missing", w.name, w.labels)
		}
		if base != nil {
			b, _ := value(base, w.name, w.labels...)
			v -= b
		}
		if v != w.v {
			return fmt.Errorf("%s%v = %v, want %v", w.name, w.labels, v, w.v)
		}
	}
	return nil
}
