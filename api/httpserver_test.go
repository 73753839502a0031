package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/view"
)

func TestNewHTTPServerTimeouts(t *testing.T) {
	srv := api.NewHTTPServer(http.NotFoundHandler())
	for name, c := range map[string][2]time.Duration{
		"ReadHeaderTimeout": {srv.ReadHeaderTimeout, 5 * time.Second},
		"ReadTimeout":       {srv.ReadTimeout, 10 * time.Second},
		"WriteTimeout":      {srv.WriteTimeout, 30 * time.Second},
		"IdleTimeout":       {srv.IdleTimeout, 60 * time.Second},
	} {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

// errorBody decodes a JSON error response, failing the test when it is
// none.
func errorBody(t *testing.T, what string, h http.Header, b []byte) string {
	t.Helper()
	var e schema.Error
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %q is no JSON error", what, b)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	return e.Error
}

func TestWriteJSONNotEncodable(t *testing.T) {
	for _, v := range []any{math.Inf(1), map[string]float64{"y": math.NaN()}, schema.Prediction{Model: "m", Y: math.Inf(-1)}} {
		rec := httptest.NewRecorder()
		api.WriteJSON(rec, http.StatusOK, v)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%v: status %d, want 500", v, rec.Code)
		}
		errorBody(t, fmt.Sprint(v), rec.Header(), rec.Body.Bytes())
	}
	rec := httptest.NewRecorder()
	api.WriteJSON(rec, http.StatusTeapot, map[string]float64{"y": 1.5})
	if rec.Code != http.StatusTeapot || rec.Body.String() != "{\"y\":1.5}\n" || rec.Header().Get("Content-Length") != "10" {
		t.Errorf("a good value: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}

// TestPredictStrictDecoding checks the body rules of predict, which hold
// before any lookup: a view that never ran is enough.
func TestPredictStrictDecoding(t *testing.T) {
	ts := httptest.NewServer(idleAPI(t))
	defer ts.Close()
	good := `{"x": [1, 2]}`
	for _, c := range []struct {
		ct, body string
		want     int // 0: any status but 400, 408 and 415
		says     string
	}{
		{"application/json", good, 0, ""},
		{"application/json; charset=UTF-8", good, 0, ""},
		{"Application/JSON", " \n" + good + "\n\t ", 0, ""},
		{"application/json", `{"X": [1, 2]}`, 400, `unknown field "X"`},
		{"application/json", `{"x": [1, 2], "X": [3, 4]}`, 400, `unknown field "X"`},
		{"application/json", `{"x": [1, 2], "z": null}`, 400, `unknown field "z"`},
		{"application/json", `{}`, 400, `no field "x"`},
		{"application/json", `{"x": "1, 2"}`, 400, "x:"},
		{"application/json", good + "x", 400, "nothing after"},
		{"application/json", good + `{"x": [3, 4]}`, 400, "nothing after"},
		{"application/json", good + "]", 400, "nothing after"},
		{"application/json", `[1, 2]`, 400, "want"},
		{"application/json", `{"x": [1, 2`, 400, "want"},
		{"", good, 415, "Content-Type"},
		{"text/plain", good, 415, "Content-Type"},
		{"application/json; charset=latin1", good, 415, "Content-Type"},
		{"application/json; v=1", good, 415, "Content-Type"},
		{"application/json-seq", good, 415, "Content-Type"},
	} {
		what := fmt.Sprintf("%q as %q", c.body, c.ct)
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/sensors/1/predict", strings.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		msg := errorBody(t, what, resp.Header, b)
		if c.want == 0 {
			if s := resp.StatusCode; s == 400 || s == 408 || s == 415 {
				t.Errorf("%s: %d %s, want it accepted", what, s, msg)
			}
			continue
		}
		if resp.StatusCode != c.want || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %d %q, want %d saying %s", what, resp.StatusCode, msg, c.want, c.says)
		}
	}
}

// idleAPI is the API over a view that never ran.
func idleAPI(t *testing.T) http.Handler {
	t.Helper()
	idle, err := view.New(view.Config{Group: "idle", Kafka: kafkaconf.Kafka{Brokers: []string{"127.0.0.1:1"}}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return (&api.Server{Views: []*view.View{idle}}).Handler()
}

// serveShort serves h with NewHTTPServer's settings but read and idle
// timeouts short enough for a test.
func serveShort(t *testing.T, h http.Handler, read, idle time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewHTTPServer(h)
	srv.ReadTimeout, srv.IdleTimeout = read, idle
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestSlowBodyCutOff(t *testing.T) {
	addr := serveShort(t, idleAPI(t), 300*time.Millisecond, time.Minute)
	resp, b, took := testkit.DribbleBody(t, addr,
		"POST /v1/sensors/1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
		" ", 50*time.Millisecond, 5*time.Second)
	if resp.StatusCode != http.StatusRequestTimeout || took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("a dribbled body: %s after %v, want 408 after about 300ms", resp.Status, took)
	}
	errorBody(t, "a dribbled body", resp.Header, b)
}

func TestIdleKeepAliveClosed(t *testing.T) {
	addr := serveShort(t, (&api.Server{}).Handler(), time.Minute, 300*time.Millisecond)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz: %s, close %v: want a kept-alive 200", resp.Status, resp.Close)
	}
	idle := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want it closed by the server", err)
	}
	if took := time.Since(idle); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about 300ms", took)
	}
}

// TestDataRoutesWaitForTheView: while a view has not caught up with its
// table, the routes that read its sensors answer 503 with a JSON error
// saying what it waits for, never what its local copy holds.
func TestDataRoutesWaitForTheView(t *testing.T) {
	ts := httptest.NewServer(idleAPI(t))
	defer ts.Close()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/sensors", ""},
		{"GET", "/v1/sensors/1", ""},
		{"POST", "/v1/sensors/1/predict", `{"x": [1, 2]}`},
		{"GET", "/v1/groups/idle/sensors", ""},
		{"GET", "/v1/groups/idle/sensors/1", ""},
	} {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := c.method + " " + c.path
		msg := errorBody(t, what, resp.Header, b)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(msg, "view of group idle is connecting") {
			t.Errorf("%s: %d (Retry-After %q) %q; want 503 saying the view of group idle is connecting",
				what, resp.StatusCode, resp.Header.Get("Retry-After"), msg)
		}
	}
}
