package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/export"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// emitInBackground sends count samples for sensors at rate; the channel
// gets the emitter's result.
func emitInBackground(ctx context.Context, cfg emitter.Config) <-chan error {
	if cfg.Format == codec.FormatUnknown {
		cfg.Format = codec.FormatJSON
	}
	done := make(chan error, 1)
	go func() {
		n, err := emitter.Run(ctx, cfg)
		if err == nil && n != cfg.Count {
			err = fmt.Errorf("sent %d of %d", n, cfg.Count)
		}
		done <- err
	}()
	return done
}

// streamInto creates the topics of names with partitions partitions and
// streams cfg's samples into the input in the background (JSON unless cfg
// says otherwise); the channel says how the emitter ended.
func streamInto(t *testing.T, ctx context.Context, names topology.Names, partitions int, cfg emitter.Config) <-chan error {
	t.Helper()
	if err := processor.EnsureTopics(cfg.Kafka, names, partitions); err != nil {
		t.Fatal(err)
	}
	cfg.Topic = names.Input
	return emitInBackground(ctx, cfg)
}

// processArgs runs `streamrls process` of names on stateDir with a short
// session timeout, so that a killed process's partitions move on quickly.
func processArgs(kc kafkaconf.Kafka, names topology.Names, stateDir string, extra ...string) []string {
	return append([]string{"process", "--brokers", kc.Brokers[0], "--topic", names.Input, "--group", names.Group,
		"--state-dir", stateDir, "--session-timeout", "2s"}, extra...)
}

// TestCorruptedStateDirIsRebuilt stops `streamrls process` while samples
// stream, corrupts one partition's local LevelDB (its manifest) and
// starts it again on the same state dir: the damaged copy is moved aside
// and rebuilt from the changelog, and every sensor ends with exactly its
// samples and the oracle's models.
func TestCorruptedStateDirIsRebuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, dim, partitions = 16, 5, 4
	const count, rate, seed = 8000, 1000, 11
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed})

	stateDir := filepath.Join(t.TempDir(), "state")
	args := processArgs(kc, names, stateDir)
	p := start(t, args...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	testkit.Eventually(t, 60*time.Second, func() error {
		if n := applied(v); n < 300 {
			return fmt.Errorf("%d samples applied, want 300 before stopping", n)
		}
		return nil
	})
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (after %v)", err, took)
	}
	stoppedAt := applied(v)
	if stoppedAt >= count {
		t.Fatalf("all %d samples applied before the stop: the restarted process would have nothing to apply", count)
	}

	damaged := filepath.Join(stateDir, fmt.Sprintf("%s.0", names.Table()))
	manifests, _ := filepath.Glob(filepath.Join(damaged, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatalf("no manifest in %s", damaged)
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte(strings.Repeat("not a manifest ", 64)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stopped at %d samples applied; corrupted %v", stoppedAt, manifests)

	p = start(t, args...)
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)

	aside, _ := filepath.Glob(damaged + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("moved aside: %v; want one %s.corrupt-TIME", aside, damaged)
	}
	logs := p.Stderr.String()
	if !strings.Contains(logs, "moved aside") || !strings.Contains(logs, "path="+damaged) ||
		(len(aside) == 1 && !strings.Contains(logs, aside[0])) {
		t.Errorf("the restarted process does not log moving %s aside:\n%s", damaged, testkit.Tail(logs, 30))
	}
	if strings.Contains(logs, "processor stopped; restarting") {
		t.Errorf("the damaged copy made the processor restart:\n%s", testkit.Tail(logs, 30))
	}
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)", err, took)
	}
}

// TestSecondProcessOnAStateDirIsRefused: a second `streamrls process` on
// the --state-dir of a running one exits at once with an error naming the
// directory; the first keeps applying every sample exactly once.
func TestSecondProcessOnAStateDirIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, dim, partitions = 8, 4, 4
	const count, rate, seed = 4000, 800, 5
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed})
	stateDir := filepath.Join(t.TempDir(), "state")
	args := processArgs(kc, names, stateDir)
	first := startNamed(t, "first streamrls process", args...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	waitProgress(t, v, 0)

	second := startNamed(t, "second streamrls process", args...)
	select {
	case <-second.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("a second process on %s still runs after 15s:\n%s", stateDir, testkit.Tail(second.Stderr.String(), 20))
	}
	if second.ExitCode() == 0 {
		t.Errorf("the second process exited 0")
	}
	if out := second.Stderr.String(); !strings.Contains(out, stateDir) || !strings.Contains(out, fmt.Sprint(first.Cmd.Process.Pid)) {
		t.Errorf("the second process's error names neither %s nor the first's PID %d:\n%s", stateDir, first.Cmd.Process.Pid, out)
	}
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)
	if first.Exited() {
		t.Errorf("the first process exited: %v", first.Err())
	}
	if err, took := first.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)", err, took)
	}
}

// The two clusters of the foreign state dir tests: the old one fills a
// state dir, the new one (another broker, other sensors of another
// dimension) reuses it.
const (
	oldSensors, oldDim, oldCount = 8, 4, 1600
	newSensors, newDim, newCount = 4, 3, 2400
)

// fillBroker starts an embedded broker and has `streamrls process` apply
// count samples of sensors of dimension dim to it; it returns once every
// sample is in the table.
func fillBroker(t *testing.T, ctx context.Context, sensors, dim int, count int64) kafkaconf.Kafka {
	t.Helper()
	_, kc := testkit.Broker(t)
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, 4, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim, Count: count,
		Rate: 4000, Seed: 3})
	p := start(t, processArgs(kc, names, filepath.Join(t.TempDir(), "process"))...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	testkit.Eventually(t, 60*time.Second, func() error {
		if n := applied(v); n != uint64(count) {
			return fmt.Errorf("%d of %d samples applied", n, count)
		}
		return nil
	})
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (after %v)", err, took)
	}
	return kc
}

// newClusterOnly checks one answer of the API at base: a 503 is a JSON
// error, a 200 holds none but the new cluster's sensors (IDs 1..newSensors,
// dimension newDim). It says whether every new sensor is there with all
// its samples; an error is an answer with the old cluster's state.
func newClusterOnly(base string) (done bool, status string, err error) {
	resp, err := http.Get(base + "/v1/sensors")
	if err != nil {
		return false, "", nil // not listening yet
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		var e schema.Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || !strings.Contains(e.Error, "view of group rls") {
			return false, "", fmt.Errorf("503 without a JSON error saying what the view waits for: %v %+v", err, e)
		}
		return false, "503 " + e.Error, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, "", fmt.Errorf("/v1/sensors: %s", resp.Status)
	}
	var page schema.Sensors
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return false, "", err
	}
	var total uint64
	for _, id := range page.Sensors {
		var s schema.Sensor
		code, err := getJSON(base+"/v1/sensors/"+id, &s)
		if err != nil || code != http.StatusOK {
			return false, "", fmt.Errorf("sensor %s listed, then %d %v", id, code, err)
		}
		if err := newSensor(s); err != nil {
			return false, "", err
		}
		total += s.Samples
	}
	return len(page.Sensors) == newSensors && total == newCount, fmt.Sprintf("200 %d sensors, %d samples", len(page.Sensors), total), nil
}

// newSensor says whether s can be the new cluster's.
func newSensor(s schema.Sensor) error {
	if s.Dim != newDim || s.Samples > newCount || len(s.Sensor) != 1 || s.Sensor[0] < '1' || s.Sensor[0] > '0'+newSensors {
		return fmt.Errorf("sensor %s (dimension %d, %d samples) is the old cluster's, not one of the new %d of dimension %d",
			s.Sensor, s.Dim, s.Samples, newSensors, newDim)
	}
	return nil
}

// waitNewCluster polls the API at base until it serves every new sensor,
// failing at the first answer with the old cluster's state; it returns the
// answers seen, in order, without repeats.
func waitNewCluster(t *testing.T, base string, within time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(within)
	for {
		done, status, err := newClusterOnly(base)
		if err != nil {
			t.Fatalf("after %v: %v (answers so far: %q)", within-time.Until(deadline), err, seen)
		}
		if status != "" && (len(seen) == 0 || seen[len(seen)-1] != status) {
			seen = append(seen, status)
		}
		if done {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving the new cluster's %d sensors after %v; answers: %q", newSensors, within, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkMovedAside checks that a copy under dir was moved aside and that
// logs say why in one line per partition.
func checkMovedAside(t *testing.T, dir, logs string) {
	t.Helper()
	var aside []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.Contains(d.Name(), "-table.") && strings.Contains(d.Name(), ".corrupt-") {
			aside = append(aside, p)
			return filepath.SkipDir
		}
		return nil
	})
	const why = "local table copy does not belong to the table topic"
	lines := strings.Count(logs, why)
	if i := strings.Index(logs, why); i >= 0 {
		t.Logf("logged: %s", strings.SplitN(logs[i:], "\n", 2)[0])
	}
	if len(aside) == 0 || lines != len(aside) || !strings.Contains(logs, "recorded with") && !strings.Contains(logs, "ends before offset") {
		t.Errorf("moved aside under %s: %v; %d log lines saying why, want one per copy:\n%s", dir, aside, lines, testkit.Tail(logs, 30))
	}
}

// exportedJSON reads the sensors of `export --format json --out out`.
func exportedJSON(t *testing.T, out string) []schema.Sensor {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(out, export.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var ss []schema.Sensor
	if err := json.Unmarshal(raw, &ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

// checkNewCurves checks that the API at base, once ready, has no learning
// curve of the old cluster's sensors (kept in the state dir too), and that
// logs say the old curves were dropped.
func checkNewCurves(t *testing.T, base string, logs func() string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() error {
		if code, err := getJSON(base+"/readyz", nil); err != nil || code != http.StatusOK {
			return fmt.Errorf("/readyz: %d %v", code, err)
		}
		return nil
	})
	if code, err := getJSON(base+"/v1/sensors/5/history", nil); err != nil || code != http.StatusNotFound {
		t.Errorf("history of the old cluster's sensor 5: %d %v; want 404", code, err)
	}
	var h struct {
		Dim int `json:"dim"`
	}
	if code, err := getJSON(base+"/v1/sensors/1/history", &h); err != nil || code != http.StatusOK || h.Dim != newDim {
		t.Errorf("history of sensor 1: %d %v, dimension %d; want the new cluster's %d", code, err, h.Dim, newDim)
	}
	if !strings.Contains(logs(), "do not belong to the topic") {
		t.Errorf("no log line on dropping the old curves:\n%s", testkit.Tail(logs(), 20))
	}
}

// TestStateDirOfAnotherBrokerServe: a `serve` state dir filled from one
// broker (8 sensors), reused by `serve` against a fresh broker holding 4
// other sensors, answers with the new broker's 4 sensors, or 503 until
// its view has caught up, never the old 8.
func TestStateDirOfAnotherBrokerServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := testkit.Context(t, 4*time.Minute)
	stateDir := filepath.Join(t.TempDir(), "view-state")

	old := fillBroker(t, ctx, oldSensors, oldDim, oldCount)
	addr := freeAddr(t)
	s := startNamed(t, "serve on the old broker", "serve", "--brokers", old.Brokers[0], "--state-dir", stateDir, "--http", addr)
	testkit.Eventually(t, 60*time.Second, func() error {
		var page schema.Sensors
		if code, err := getJSON("http://"+addr+"/v1/sensors", &page); err != nil || code != 200 || len(page.Sensors) != oldSensors {
			return fmt.Errorf("/v1/sensors: %d %v %v", code, err, page.Sensors)
		}
		return nil
	})
	if err, took := s.Stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (after %v)", err, took)
	}

	fresh := fillBroker(t, ctx, newSensors, newDim, newCount)
	addr = freeAddr(t)
	s = startNamed(t, "serve on the new broker", "serve", "--brokers", fresh.Brokers[0], "--state-dir", stateDir, "--http", addr)
	seen := waitNewCluster(t, "http://"+addr, 60*time.Second)
	t.Logf("answers: %q", seen)
	checkMovedAside(t, stateDir, s.Stderr.String())
	checkNewCurves(t, "http://"+addr, s.Stderr.String)
}

// TestStateDirOfAnotherBrokerExport: `export --state-dir` kept from one
// broker and reused against a fresh one exports the new broker's sensors
// only.
func TestStateDirOfAnotherBrokerExport(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := testkit.Context(t, 4*time.Minute)
	stateDir := filepath.Join(t.TempDir(), "export-state")
	exported := func(kc kafkaconf.Kafka) ([]schema.Sensor, string) {
		out := t.TempDir()
		logs := runCLI(t, "export", "--brokers", kc.Brokers[0], "--state-dir", stateDir, "--format", "json", "--out", out)
		return exportedJSON(t, out), logs
	}

	old := fillBroker(t, ctx, oldSensors, oldDim, oldCount)
	if ss, _ := exported(old); len(ss) != oldSensors {
		t.Fatalf("the old broker exported %d sensors, want %d", len(ss), oldSensors)
	}
	fresh := fillBroker(t, ctx, newSensors, newDim, newCount)
	ss, logs := exported(fresh)
	var total uint64
	for _, s := range ss {
		if err := newSensor(s); err != nil {
			t.Error(err)
		}
		total += s.Samples
	}
	if len(ss) != newSensors || total != newCount {
		t.Errorf("exported %d sensors, %d samples; want the new broker's %d, %d", len(ss), total, newSensors, newCount)
	}
	checkMovedAside(t, stateDir, logs)
}

// TestStateDirOfAnotherBrokerRun: a second `run` on a --data-dir whose
// broker/ was wiped (a fresh broker holding 4 other sensors) answers with
// the new sensors, or 503 until its view has caught up, never the old 8.
func TestStateDirOfAnotherBrokerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	run := func(sensors, dim, count int) (*testkit.Proc, string) {
		addr := freeAddr(t)
		p := start(t, "run", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http", addr,
			"--sensors", fmt.Sprint(sensors), "--dim", fmt.Sprint(dim), "--count", fmt.Sprint(count), "--rate", "4000")
		return p, "http://" + addr
	}
	p, base := run(oldSensors, oldDim, oldCount)
	testkit.Eventually(t, 60*time.Second, func() error {
		var page schema.Sensors
		if code, err := getJSON(base+"/v1/sensors", &page); err != nil || code != 200 || len(page.Sensors) != oldSensors {
			return fmt.Errorf("/v1/sensors: %d %v %v", code, err, page.Sensors)
		}
		var s schema.Sensor
		if code, err := getJSON(base+"/v1/sensors/1", &s); err != nil || code != 200 || s.Samples != oldCount/oldSensors {
			return fmt.Errorf("sensor 1: %d %v, %d samples", code, err, s.Samples)
		}
		return nil
	})
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (after %v)", err, took)
	}
	if err := os.RemoveAll(filepath.Join(dataDir, "broker")); err != nil {
		t.Fatal(err)
	}

	p, base = run(newSensors, newDim, newCount)
	seen := waitNewCluster(t, base, 90*time.Second)
	t.Logf("answers: %q", seen)
	checkMovedAside(t, dataDir, p.Stderr.String()+p.Stdout.String())
	checkNewCurves(t, base, func() string { return p.Stderr.String() + p.Stdout.String() })
}
