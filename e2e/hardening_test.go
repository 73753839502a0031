package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// freshConn sends every request on a new connection. The serve under test
// closes idle keep-alives after 1 s, and a POST sent on a pooled connection
// the server is closing at that moment fails with EOF: Go retries only
// idempotent requests.
var freshConn = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// postRaw posts body with content type ct and returns the status and the
// decoded JSON error body (failing the test when the body is no JSON
// error).

func postRaw(t *testing.T, url, ct, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := freshConn.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, string(b)
	}
	var e schema.Error
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Errorf("POST %s %q: %s with body %q: want a JSON error", url, body, resp.Status, b)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("POST %s %q: Content-Type %q", url, body, got)
	}
	return resp.StatusCode, e.Error
}

// TestHTTPHardening sends a real `serve` what a clumsy or hostile client
// would: a predict whose xᵀθ overflows for finite x, bodies that are not
// exactly {"x": [...]}, a wrong content type and a body dribbled slower
// than the read timeout.
func TestHTTPHardening(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	const dim, count = 4, 300
	n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: topology.DefaultInput, Partitions: 2,
		Sensors: 1, Dim: dim, Count: count, Format: codec.FormatJSON, Seed: 7})
	if err != nil || n != count {
		t.Fatalf("emit: %d of %d: %v", n, count, err)
	}
	startNamed(t, "process", "process", "--brokers", b.Addr(), "--state-dir", t.TempDir())
	var serve *testkit.Proc
	var sURL string
	var s *schema.Sensor
	testkit.Eventually(t, 60*time.Second, func() error {
		if serve == nil || serve.Exited() {
			serve = startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0",
				"--http-idle-timeout", "1s")
			sURL = serve.HTTPURL(t)
		}
		var code int
		s, code, err = sensorAPI(sURL, "1")
		if err != nil || code != 200 || s.Samples != count {
			return fmt.Errorf("sensor 1: %d %v", code, err)
		}
		return nil
	})
	predict := sURL + "/v1/sensors/1/predict"

	// An idle keep-alive connection is closed after --http-idle-timeout.
	idle, err := net.Dial("tcp", strings.TrimPrefix(sURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive /healthz: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	idleStart := time.Now()
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("an idle keep-alive connection: read %v after %v, want EOF (closed by the server)", err, time.Since(idleStart))
	} else if d := time.Since(idleStart); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("idle connection closed after %v, want about 1s", d)
	}

	// x of finite values, each ±1e308 with the sign of θ of the first
	// model: xᵀθ ≥ 1e308·Σ|θᵢ| overflows (|θ| ≈ 1 for the default θ*).
	m := s.Models[0]
	x := make([]float64, dim)
	sum := 0.0
	for i, th := range m.Theta {
		x[i] = math.Copysign(1e308, th)
		sum += math.Abs(th)
	}
	if sum < 2 {
		t.Fatalf("Σ|θ| of %s = %v: too small to overflow", m.Name, sum)
	}
	xb, _ := json.Marshal(schema.PredictRequest{X: x})
	if code, msg := postRaw(t, predict, "application/json", string(xb)); code != http.StatusBadRequest || !strings.Contains(msg, m.Name) {
		t.Errorf("overflowing x: %d %q, want 400 naming %s", code, msg, m.Name)
	}

	zero := `{"x": [0, 0, 0, 0]}`
	if code, body := postRaw(t, predict, "application/json; charset=utf-8", zero); code != http.StatusOK {
		t.Errorf("a good body: %d %s", code, body)
	}
	for _, c := range []struct {
		ct, body string
		want     int
		says     string
	}{
		{"application/json", `{"X": [0, 0, 0, 0]}`, 400, `"X"`},
		{"application/json", `{"x": [0, 0, 0, 0], "y": 1}`, 400, `"y"`},
		{"application/json", zero + ` trailing`, 400, "after"},
		{"application/json", zero + zero, 400, "after"},
		{"text/plain", zero, 415, "Content-Type"},
		{"application/x-www-form-urlencoded", zero, 415, "Content-Type"},
		{"", zero, 415, "Content-Type"},
		{"application/json; charset=latin1", zero, 415, "Content-Type"},
	} {
		if code, msg := postRaw(t, predict, c.ct, c.body); code != c.want || !strings.Contains(msg, c.says) {
			t.Errorf("%q as %q: %d %q, want %d saying %s", c.body, c.ct, code, msg, c.want, c.says)
		}
	}

	// A body dribbled slower than the read timeout: cut off with a 408
	// once api.ReadTimeout has passed, long before the body is complete.
	limit := api.ReadTimeout + 10*time.Second
	resp, body, took := testkit.DribbleBody(t, strings.TrimPrefix(sURL, "http://"),
		"POST /v1/sensors/1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"x\": [",
		"0,", 500*time.Millisecond, limit)
	if resp.StatusCode != http.StatusRequestTimeout || took < api.ReadTimeout-time.Second {
		t.Errorf("slow body: %s after %v: %s (want 408 after about %v)", resp.Status, took, body, api.ReadTimeout)
	}
	var e schema.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("slow body: %q is no JSON error", body)
	}
}
