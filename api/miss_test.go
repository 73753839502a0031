package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/schema"
)

// TestJSONMisses: an unknown path or a wrong method under the JSON routes
// answers a JSON error, with Allow on a 405; a long ID is not echoed whole.
func TestJSONMisses(t *testing.T) {
	srv := httptest.NewServer((&api.Server{}).Handler())
	defer srv.Close()
	long := strings.Repeat("é", 100000)
	for _, c := range []struct {
		method, path string
		want         int
		allow        string
	}{
		{"GET", "/v1/sensors/1/", 404, ""},
		{"GET", "/v1/nope", 404, ""},
		{"GET", "/v1", 404, ""},
		{"GET", "/v1/sensors/1/predict", 405, "POST"},
		{"DELETE", "/v1/sensors/1", 405, "GET, HEAD"},
		{"PUT", "/v1/groups", 405, "GET, HEAD"},
		{"POST", "/readyz", 405, "GET, HEAD"},
		{"GET", "/v1/sensors/" + long + "/", 404, ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		name := c.method + " " + c.path[:min(len(c.path), 40)]
		var e schema.Error
		if resp.StatusCode != c.want || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %q %.200s, want %d with a JSON error", name, resp.StatusCode, resp.Header.Get("Content-Type"), b, c.want)
		}
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s: Allow %q, want %q", name, got, c.allow)
		}
		if n := utf8.RuneCountInString(e.Error); n > 200 {
			t.Errorf("%s: an error of %d runes", name, n)
		}
	}
	// The pages keep ServeMux's answer.
	resp, err := http.Post(srv.URL+"/sensors/1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("POST /sensors/1: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
