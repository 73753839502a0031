package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
		{"GET", "/", "", http.StatusSeeOther},
		{"GET", "/sensors/1", "", http.StatusSeeOther},
		{"GET", "/goka/", "", http.StatusSeeOther},
		{"GET", "/login", "", http.StatusOK},
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
		resp, err := noRedirect.Do(req)
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

// noRedirect shows the answer itself, redirects included.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestSessionCookie: /login with the token sets a session cookie that
// opens pages and GET routes, never a cross-site POST; a wrong token, a
// forged or cleared cookie opens nothing.
func TestSessionCookie(t *testing.T) {
	srv := httptest.NewServer(api.RequireToken("s3cret", (&api.Server{}).Handler()))
	defer srv.Close()
	do := func(method, path, cookie string, hdr map[string]string, body url.Values) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(body.Encode())
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" {
			req.Header.Set("Cookie", api.SessionCookie+"="+cookie)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	resp := do("GET", "/sensors/1?group=rls", "", nil, nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next=%2Fsensors%2F1%3Fgroup%3Drls" {
		t.Errorf("a page without the cookie: %d to %q", resp.StatusCode, loc)
	}
	if resp := do("POST", "/login", "", nil, url.Values{"token": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	if resp := do("POST", "/login", "", cross, url.Values{"token": {"s3cret"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site login: %d, want 403", resp.StatusCode)
	}
	resp = do("POST", "/login", "", nil, url.Values{"token": {"s3cret"}, "next": {"//evil.example/"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
		t.Fatalf("login: %d to %q, want 303 to /", resp.StatusCode, loc)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure || session.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure without TLS", session)
	}
	if strings.Contains(session.Value, "s3cret") {
		t.Fatalf("the cookie holds the token: %q", session.Value)
	}

	x := url.Values{"x": {"1"}}
	for _, c := range []struct {
		method, path, cookie string
		hdr                  map[string]string
		want                 int
	}{
		{"GET", "/v1/groups", session.Value, nil, http.StatusOK},
		{"GET", "/metrics", session.Value, nil, http.StatusOK},
		{"GET", "/", session.Value, nil, http.StatusServiceUnavailable}, // no view: past the guard
		{"GET", "/v1/groups", session.Value, cross, http.StatusOK},      // reading is not forged
		{"POST", "/v1/sensors/1/predict", session.Value, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusServiceUnavailable},
		{"POST", "/v1/sensors/1/predict", session.Value, cross, http.StatusForbidden},
		{"POST", "/v1/sensors/1/predict", session.Value, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"POST", "/v1/sensors/1/predict", "", map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}, http.StatusServiceUnavailable},
		{"GET", "/v1/groups", session.Value + "x", nil, http.StatusUnauthorized},
		{"GET", "/v1/groups", "99999999999." + strings.SplitN(session.Value, ".", 2)[1], nil, http.StatusUnauthorized},
		{"GET", "/v1/groups", "1.AAAA", nil, http.StatusUnauthorized},
	} {
		var body url.Values
		if c.method == "POST" {
			body = x
		}
		if resp := do(c.method, c.path, c.cookie, c.hdr, body); resp.StatusCode != c.want {
			t.Errorf("%s %s cookie %q %v: %d, want %d", c.method, c.path, c.cookie, c.hdr, resp.StatusCode, c.want)
		}
	}

	resp = do("GET", "/logout", session.Value, nil, nil)
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == api.SessionCookie && c.MaxAge < 0 && c.Value == "")
	}
	if resp.StatusCode != http.StatusSeeOther || !cleared {
		t.Errorf("logout: %d, cookies %v: want 303 clearing the cookie", resp.StatusCode, resp.Cookies())
	}
}

// TestSessionCookieTLS: over TLS the session cookie is Secure.
func TestSessionCookieTLS(t *testing.T) {
	srv := httptest.NewTLSServer(api.RequireToken("s3cret", (&api.Server{}).Handler()))
	defer srv.Close()
	hc := srv.Client()
	hc.CheckRedirect = noRedirect.CheckRedirect
	resp, err := hc.PostForm(srv.URL+"/login", url.Values{"token": {"s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("login over TLS: %d, cookies %v: want one Secure, HttpOnly, SameSite=Strict cookie", resp.StatusCode, cs)
	}
}
