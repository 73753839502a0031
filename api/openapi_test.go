package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/view"
)

// apiCase is one request and the status it must get; every response is
// validated against the OpenAPI document.
type apiCase struct {
	server      string // "data", "token", "none", "unready" or "unhist"
	method      string
	path        string
	body        string
	want        int
	badRequest  bool // the request breaks the document on purpose
	contentType string
}

// TestOpenAPI serves the API over a view and a snapshots follower of a
// real pipeline (emitter → embedded broker → processor) and checks every
// route's responses, errors included, against GET /openapi.json: status,
// content type and body schema (kin-openapi), and that the document and
// the server's routes are the same set.
func TestOpenAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.PlainBodyDecoder)

	p := startPipeline(t)
	reg := prometheus.NewRegistry()
	data := &api.Server{Views: p.srv.Views, Histories: p.srv.Histories, Events: p.srv.Events, Truth: p.srv.Truth,
		Registry: reg, Metrics: api.NewMetrics(reg, p.srv.Views...)}
	// A view that never ran: not ready, no sensors.
	idle, err := view.New(view.Config{Group: "idle", Kafka: kafkaconf.Kafka{Brokers: []string{"127.0.0.1:1"}}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// A snapshots follower that never ran: the curves are not loaded.
	unloaded, err := history.NewFollower(history.FollowerConfig{Group: "idle", Kafka: kafkaconf.Kafka{Brokers: []string{"127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]http.Handler{
		"unhist":  (&api.Server{Histories: []*history.Follower{unloaded}}).Handler(),
		"data":    data.Handler(),
		"token":   api.RequireToken("s3cret", data.Handler()),
		"none":    (&api.Server{}).Handler(),
		"unready": (&api.Server{Views: []*view.View{idle}}).Handler(),
	}
	urls := map[string]string{}
	for name, h := range servers {
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		urls[name] = ts.URL
	}

	doc := loadDoc(t, urls["data"]+"/openapi.json")
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	const (
		js   = "application/json"
		html = "text/html; charset=utf-8"
		text = "text/plain; charset=utf-8"
		svg  = "image/svg+xml"
	)
	x := `{"x": [0.5, -1, 2, 0.25]}`
	cases := []apiCase{
		{"data", "GET", "/healthz", "", 200, false, js},
		{"data", "GET", "/readyz", "", 200, false, js},
		{"unready", "GET", "/readyz", "", 503, false, js},
		{"unhist", "GET", "/readyz", "", 503, false, js},
		{"none", "GET", "/readyz", "", 200, false, js},
		{"data", "GET", "/metrics", "", 200, false, "text/plain"},
		{"data", "GET", "/openapi.json", "", 200, false, js},

		{"data", "GET", "/v1/sensors", "", 200, false, js},
		{"data", "GET", "/v1/sensors?limit=2", "", 200, false, js},
		{"data", "GET", "/v1/sensors?after=1&limit=1", "", 200, false, js},
		{"data", "GET", "/v1/sensors?limit=0", "", 400, true, js},
		{"unready", "GET", "/v1/sensors", "", 503, false, js},
		{"unready", "GET", "/v1/sensors/1", "", 503, false, js},
		{"unready", "POST", "/v1/sensors/1/predict", x, 503, false, js},
		{"unready", "GET", "/v1/groups/idle/sensors", "", 503, false, js},
		{"none", "GET", "/v1/sensors", "", 503, false, js},
		{"data", "GET", "/v1/sensors/1", "", 200, false, js},
		{"data", "GET", "/v1/sensors/nope", "", 404, false, js},
		{"none", "GET", "/v1/sensors/1", "", 503, false, js},
		{"data", "POST", "/v1/sensors/1/predict", x, 200, false, js},
		{"data", "POST", "/v1/sensors/1/predict", `{"x": [1, 2`, 400, true, js},
		{"data", "POST", "/v1/sensors/1/predict", `{"x": [1]}`, 400, false, js},
		{"data", "POST", "/v1/sensors/1/predict", `{"x": [1e308, 1e308, 1e308, 1e308]}`, 400, false, js},
		{"data", "POST", "/v1/sensors/1/predict", `{"X": [0.5, -1, 2, 0.25]}`, 400, true, js},
		{"data", "POST", "/v1/sensors/1/predict", x + `x`, 400, false, js}, // kin-openapi reads the first value only
		{"data", "POST", "/v1/sensors/1/predict", x, 415, true, js},
		{"data", "POST", "/v1/sensors/nope/predict", x, 404, false, js},
		{"data", "GET", "/v1/sensors/1/history", "", 200, false, js},
		{"data", "GET", "/v1/sensors/nope/history", "", 404, false, js},
		{"data", "GET", "/v1/sensors/1/plot.svg", "", 200, false, svg},
		{"data", "GET", "/v1/sensors/nope/plot.svg", "", 404, false, js},

		{"data", "GET", "/v1/sensors/1/events", "", 200, false, js},
		{"data", "GET", "/v1/sensors/2/events?limit=1", "", 200, false, js},
		{"data", "GET", "/v1/sensors/3/events", "", 200, false, js}, // no events
		{"data", "GET", "/v1/sensors/1/events?limit=0", "", 400, true, js},
		{"data", "GET", "/v1/sensors/1/events?limit=101", "", 400, false, js}, // over --events-per-sensor
		{"data", "GET", "/v1/sensors/nope/events", "", 404, false, js},
		{"unready", "GET", "/v1/sensors/1/events", "", 404, false, js}, // no events follower
		{"none", "GET", "/v1/sensors/1/events", "", 503, false, js},
		{"data", "GET", "/v1/groups/rls/sensors/1/events?limit=2", "", 200, false, js},
		{"data", "GET", "/v1/groups/nope/sensors/1/events", "", 404, false, js},

		{"data", "GET", "/v1/groups", "", 200, false, js},
		{"none", "GET", "/v1/groups", "", 200, false, js},
		{"data", "GET", "/v1/groups/rls/sensors?limit=3", "", 200, false, js},
		{"data", "GET", "/v1/groups/nope/sensors", "", 404, false, js},
		{"data", "GET", "/v1/groups/rls/sensors/2", "", 200, false, js},
		{"data", "GET", "/v1/groups/nope/sensors/2", "", 404, false, js},
		{"data", "POST", "/v1/groups/rls/sensors/2/predict", x, 200, false, js},
		{"data", "POST", "/v1/groups/rls/sensors/2/predict", `[1, 2]`, 400, true, js},
		{"data", "GET", "/v1/groups/rls/sensors/2/history", "", 200, false, js},
		{"data", "GET", "/v1/groups/rls/sensors/2/plot.svg", "", 200, false, svg},
		{"data", "GET", "/v1/groups/rls/sensors/nope/plot.svg", "", 404, false, js},

		{"data", "GET", "/", "", 200, false, html},
		{"data", "GET", "/?limit=2&group=rls", "", 200, false, html},
		{"data", "GET", "/?limit=x", "", 400, true, text},
		{"data", "GET", "/?group=nope", "", 404, false, text},
		{"none", "GET", "/", "", 503, false, text},
		{"data", "GET", "/sensors/1?group=rls", "", 200, false, html},
		{"data", "GET", "/sensors/nope", "", 404, false, text},

		{"data", "GET", "/goka", "", 301, false, html},
		{"data", "GET", "/goka/", "", 200, false, html},
		{"data", "GET", "/goka/monitor/", "", 200, false, html},
		{"data", "GET", "/goka/monitor/view/0", "", 200, false, html},
		{"data", "GET", "/goka/monitor/processor/0", "", 404, false, text},
		{"data", "GET", "/goka/monitor/data/view/0", "", 200, false, text},
		{"data", "GET", "/goka/monitor/data/view/1", "", 404, false, text},
		{"data", "GET", "/goka/query/", "", 200, false, html},
		{"data", "GET", "/goka/query/rls-table/1", "", 200, false, html},

		{"token", "GET", "/healthz", "", 200, false, js},
		{"token", "GET", "/v1/sensors/1", "", 401, false, js},
		{"token", "POST", "/v1/sensors/1/predict", x, 401, false, js},
		{"token", "GET", "/openapi.json", "", 401, false, js},
		{"token", "GET", "/", "", 303, false, html},
		{"token", "GET", "/sensors/1", "", 303, false, html},
		{"token", "GET", "/login?next=/sensors/1", "", 200, false, html},
		{"token", "POST", "/login", "token=wrong&next=/", 401, false, html},
		{"token", "POST", "/login", "token=s3cret&next=/", 303, false, ""},
		{"token", "GET", "/logout", "", 303, false, html},
	}
	// The client shows what the server answers, redirects included.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	covered := map[string]bool{} // "METHOD /doc/path"
	for _, c := range cases {
		name := fmt.Sprintf("%s %s %s (%s)", c.method, c.path, c.body, c.server)
		newReq := func() *http.Request {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, err := http.NewRequest(c.method, urls[c.server]+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.body != "" {
				ct := "application/json"
				if c.want == http.StatusUnsupportedMediaType {
					ct = "text/plain"
				}
				if c.path == "/login" {
					ct = "application/x-www-form-urlencoded"
				}
				req.Header.Set("Content-Type", ct)
			}
			return req
		}
		req := newReq()
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s: not in the document: %v", name, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
		if err := openapi3filter.ValidateRequest(context.Background(), in); (err != nil) != c.badRequest {
			t.Errorf("%s: request against the document: %v (want an error: %v)", name, err, c.badRequest)
		}
		resp, err := hc.Do(newReq())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d: %.300s", name, resp.StatusCode, c.want, b)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.contentType) {
			t.Errorf("%s: Content-Type %q, want %q", name, ct, c.contentType)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
			Header: resp.Header, Body: io.NopCloser(bytes.NewReader(b)), Options: opts}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s: response against the document: %v\nbody: %.500s", name, err, b)
		}
		covered[route.Method+" "+route.Path] = true
	}

	// An error repeats a long ID cut short.
	long := strings.Repeat("x", 100000)
	for _, path := range []string{"/v1/sensors/" + long, "/v1/groups/" + long + "/sensors/1", "/sensors/" + long} {
		resp, err := hc.Get(urls["data"] + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || len(b) > 300 || !strings.Contains(string(b), strings.Repeat("x", api.MaxEchoed)+"…") {
			t.Errorf("GET %.30s…: %d, %d bytes: %.300s", path, resp.StatusCode, len(b), b)
		}
	}

	// The document and the server have the same routes, and each
	// operation of the document had its responses checked.
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
			if !covered[method+" "+path] {
				t.Errorf("%s %s is documented but no response of it was checked", method, path)
			}
		}
	}
	for _, pat := range api.Patterns(data) {
		method, path, ok := strings.Cut(pat, " ")
		if !ok {
			method, path = "GET", pat // a pattern without a method: goka's UI
		}
		path = strings.TrimSuffix(path, "{$}")
		if !documented[method+" "+path] {
			t.Errorf("route %q is not in the document", pat)
		}
	}
}

func loadDoc(t *testing.T, url string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(getBody(t, url, http.StatusOK))
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is no valid OpenAPI 3 document: %v", err)
	}
	return doc
}
