package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/streamrls/streamrls/api"
)

func TestRequireToken(t *testing.T) {
	srv := httptest.NewServer(api.RequireToken("s3cret", (&api.Server{}).Handler()))
	defer srv.Close()
	for _, c := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/healthz", "", http.StatusOK},
		{"GET", "/readyz", "", http.StatusUnauthorized},
		{"GET", "/metrics", "", http.StatusUnauthorized},
		{"GET", "/v1/sensors/1", "", http.StatusUnauthorized},
		{"GET", "/v1/groups", "Bearer wrong", http.StatusUnauthorized},
		{"GET", "/v1/groups", "Bearer s3cre", http.StatusUnauthorized},
		{"GET", "/v1/groups", "Bearer s3cret2", http.StatusUnauthorized},
		{"GET", "/v1/groups", "Basic s3cret", http.StatusUnauthorized},
		{"GET", "/v1/groups", "s3cret", http.StatusUnauthorized},
		{"POST", "/v1/sensors/1/predict", "", http.StatusUnauthorized},
		{"GET", "/v1/groups", "Bearer s3cret", http.StatusOK},
		{"GET", "/v1/groups", "bearer s3cret", http.StatusOK},
		{"GET", "/metrics", "Bearer s3cret", http.StatusOK},
		{"GET", "/v1/sensors/1", "Bearer s3cret", http.StatusServiceUnavailable}, // no view: past the guard
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.auth, resp.StatusCode, c.want)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
	}
}
