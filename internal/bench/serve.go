package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
)

// Serve is phase (v): broker, process and serve as three OS processes, as
// a user runs them, on an input pre-filled with single-sample JSON
// messages; the rate is the one seen at serve's HTTP API.
type Serve struct {
	// NoBatches is the run with --batch-interval 0, Batches the one at the
	// bench's --batch-interval; each on a group of its own over the same
	// input, one after the other.
	NoBatches *Throughput `json:"no_batches"`
	Batches   *Throughput `json:"batches"`
	// BatchesOverNoBatches is Batches over NoBatches in samples/s.
	BatchesOverNoBatches float64 `json:"batches_over_no_batches"`
	// BatchesOverNoBatchesFromStart is the same ratio with each rate
	// taken from the process's start instead of the first sample seen:
	// with batches, serve sees the first sample only when the first batch
	// is written, so the first-to-last span leaves out up to one interval
	// of work.
	BatchesOverNoBatchesFromStart float64 `json:"batches_over_no_batches_from_start"`
	// PollMs is the mean time of one poll of every sensor at serve: the
	// resolution of the rates' first and last sample.
	PollMs float64 `json:"poll_ms"`
}

// servePause is the pause between two polls of serve.
const servePause = 20 * time.Millisecond

// serve is phase (v).
func (r *runner) serve(ctx context.Context) (*Serve, error) {
	broker, err := r.startChild("broker", "broker", "--listen", "127.0.0.1:0", "--data-dir", r.dir("v-broker"), "--log-level", "info")
	if err != nil {
		return nil, err
	}
	defer stopChild(broker)
	addr, err := broker.WaitAddr(ctx, "embedded broker listening", 30*time.Second)
	if err != nil {
		return nil, err
	}
	// A runner on that broker, writing JSON.
	vr := *r
	vr.cfg.Kafka.Brokers = []string{addr}
	vr.cfg.Format = codec.FormatJSON
	topic := r.name("serve")
	took, size, err := vr.prefill(ctx, topic, r.cfg.ServeMessages, 1)
	if err != nil {
		return nil, err
	}
	res := &Serve{}
	polls, pollTime := 0, time.Duration(0)
	for _, interval := range []time.Duration{NoBatches, r.cfg.BatchInterval} {
		phase := LabelProcesses
		if interval == NoBatches {
			phase += "0"
		}
		t := &Throughput{Phase: phase, What: "broker, process, serve as processes; batch interval " + IntervalName(interval),
			MeasuredAt: "serve", Messages: r.cfg.ServeMessages, Samples: r.cfg.ServeMessages, MessageBytes: size,
			PrefillSeconds: took.Seconds(), BatchInterval: IntervalName(interval)}
		n, d, err := vr.serveRun(ctx, phase, topic, interval, t)
		if err != nil {
			return nil, fmt.Errorf("batch interval %s: %w", IntervalName(interval), err)
		}
		polls, pollTime = polls+n, pollTime+d
		if interval == NoBatches {
			res.NoBatches = t
		} else {
			res.Batches = t
		}
	}
	res.ratios()
	if polls > 0 {
		res.PollMs = pollTime.Seconds() * 1000 / float64(polls)
	}
	return res, nil
}

// ratios sets the ratios of the two runs' rates.
func (s *Serve) ratios() {
	s.BatchesOverNoBatches = samplesOver(s.Batches, s.NoBatches)
	// The same samples in both runs: the rate from the start is the
	// inverse of the time from the start.
	s.BatchesOverNoBatchesFromStart = over(s.NoBatches.StartupSeconds+s.NoBatches.Seconds,
		s.Batches.StartupSeconds+s.Batches.Seconds)
}

// serveRun starts serve, then process, on a new group over topic, and
// polls serve until it shows every sample; it returns the number of polls
// and their total time.
func (r *runner) serveRun(ctx context.Context, phase, topic string, interval time.Duration, t *Throughput) (polls int, pollTime time.Duration, err error) {
	names := r.names("serve-"+phase, topic)
	if err := r.ensureTable(names); err != nil {
		return 0, 0, err
	}
	brokers := strings.Join(r.cfg.Kafka.Brokers, ",")
	serve, err := r.startChild("serve "+phase, "serve", "--brokers", brokers, "--group", names.Group,
		"--http", "127.0.0.1:0", "--state-dir", r.dir(names.Group+"-serve"), "--log-level", "info")
	if err != nil {
		return 0, 0, err
	}
	defer stopChild(serve)
	addr, err := serve.WaitAddr(ctx, "http listening", 30*time.Second)
	if err != nil {
		return 0, 0, err
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, client, base, serve, r.cfg.Timeout); err != nil {
		return 0, 0, err
	}

	args := []string{"process", "--brokers", brokers, "--topic", names.Input, "--group", names.Group,
		"--deadletter", names.DeadLetter, "--state-dir", r.dir(names.Group),
		"--partitions", strconv.Itoa(r.cfg.Partitions), "--http", "127.0.0.1:0", "--log-level", "info"}
	args = append(args, r.batchArgs(interval)...)
	for _, s := range r.cfg.Specs {
		args = append(args, "--model", s.String())
	}
	r.log.Info("phase "+phase+": broker, process and serve as processes", "messages", t.Messages, "batch_interval", IntervalName(interval))
	start := time.Now()
	proc, err := r.startChild("process "+phase, args...)
	if err != nil {
		return 0, 0, err
	}
	defer stopChild(proc)
	procAddr, err := proc.WaitAddr(ctx, "http listening", 30*time.Second)
	if err != nil {
		return 0, 0, err
	}

	ids := make([]string, r.cfg.Sensors)
	for i := range ids {
		ids[i] = emitter.SensorID(i)
	}
	deadline := time.Now().Add(r.cfg.Timeout)
	var first, last, before time.Time // before: the last poll that saw nothing
	prev, moved := int64(-1), time.Now()
	for {
		p0 := time.Now()
		total, err := sumSamples(ctx, client, base, ids)
		now := time.Now()
		polls, pollTime = polls+1, pollTime+now.Sub(p0)
		if err != nil {
			return polls, pollTime, err
		}
		if total == 0 {
			before = now
		}
		if total > 0 && first.IsZero() {
			first = now
		}
		if total >= t.Samples {
			last = now
			break
		}
		if total != prev {
			prev, moved = total, now
		}
		if now.Sub(moved) > stall || now.After(deadline) {
			return polls, pollTime, fmt.Errorf("serve stuck at %d of %d samples", total, t.Samples)
		}
		for _, c := range []*testkit.Proc{serve, proc} {
			if c.Exited() {
				return polls, pollTime, failure(c)
			}
		}
		select {
		case <-ctx.Done():
			return polls, pollTime, ctx.Err()
		case <-time.After(servePause):
		}
	}
	// The process counts a batch's writes once Kafka acknowledges them,
	// which may come just after serve shows them.
	var writes, size float64
	for end := time.Now().Add(10 * time.Second); ; {
		m, err := scrape(client, "http://"+procAddr, "streamrls_samples_written_total", "streamrls_state_writes_total", "streamrls_state_write_bytes_total")
		if err != nil {
			return polls, pollTime, err
		}
		writes, size = m[1], m[2]
		if int64(m[0]) >= t.Samples || time.Now().After(end) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stopChild(proc); err != nil {
		r.log.Warn("process did not stop cleanly", "err", err)
	}
	if last.Equal(first) && !before.IsZero() {
		// Everything showed up in one poll (a small run): it arrived
		// after the poll before, the span's resolution.
		first = before
	}
	t.finish(first.Sub(start), last.Sub(first), cpu(proc))
	t.changelog(int64(writes), int64(size))
	return polls, pollTime, nil
}

// waitReady waits until serve's /readyz answers 200.
func waitReady(ctx context.Context, client *http.Client, base string, c *testkit.Proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c.Exited() {
			return failure(c)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", c.Name, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sumSamples is the sum of the samples of the sensors ids at serve; a
// sensor serve does not know yet has none.
func sumSamples(ctx context.Context, client *http.Client, base string, ids []string) (int64, error) {
	var total int64
	for _, id := range ids {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/sensors/"+id, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		var s struct {
			Samples int64 `json:"samples"`
		}
		switch resp.StatusCode {
		case http.StatusOK:
			err = json.NewDecoder(resp.Body).Decode(&s)
		case http.StatusNotFound:
		default:
			err = fmt.Errorf("GET /v1/sensors/%s: %s", id, resp.Status)
		}
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("sensor %s at serve: %w", id, err)
		}
		total += s.Samples
	}
	return total, nil
}

// scrape reads unlabelled metrics from a /metrics endpoint, in the order
// of names; a metric not there is 0.
func scrape(client *http.Client, base string, names ...string) ([]float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	vals := make([]float64, len(names))
	for _, line := range strings.Split(buf.String(), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		for i, n := range names {
			if f[0] == n {
				vals[i], _ = strconv.ParseFloat(f[1], 64)
			}
		}
	}
	return vals, nil
}

// stopGrace is how long a child has to stop after SIGTERM before it is
// killed.
const stopGrace = 20 * time.Second

// startChild starts the streamrls executable with args; the caller stops
// it with stopChild.
func (r *runner) startChild(name string, args ...string) (*testkit.Proc, error) {
	return testkit.Launch(r.cfg.Binary, name, nil, args...)
}

// stopChild sends SIGTERM and waits; it says how the child ended, or that
// it had to be killed. It may be called more than once.
func stopChild(c *testkit.Proc) error {
	err, _ := c.Stop(stopGrace)
	return err
}

// failure describes a child that ended on its own.
func failure(c *testkit.Proc) error {
	return fmt.Errorf("%s exited (%v):\n%s", c.Name, c.Err(), testkit.Tail(c.Stderr.String(), 20))
}

// cpu is the child's user and system CPU time (once it has ended).
func cpu(c *testkit.Proc) time.Duration {
	if ps := c.Cmd.ProcessState; ps != nil {
		return ps.UserTime() + ps.SystemTime()
	}
	return 0
}
