package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthz(t *testing.T) {
	var failing error
	h := Healthz(func() error { return failing })
	get := func() (int, map[string]string) {
		rec := httptest.NewRecorder()
		h(rec, httptest.NewRequest("GET", "/healthz", nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
		return rec.Code, body
	}
	if code, body := get(); code != http.StatusOK || body["status"] != "ok" {
		t.Errorf("working: %d %v", code, body)
	}
	failing = errors.New("processor not running")
	if code, body := get(); code != http.StatusServiceUnavailable || body["status"] != "unhealthy" || body["error"] != "processor not running" {
		t.Errorf("not working: %d %v", code, body)
	}
	rec := httptest.NewRecorder()
	Healthz(nil)(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("without a check: %d", rec.Code)
	}
}
