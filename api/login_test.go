package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/internal/testkit"
)

// loginDriver is a page on the server's origin that logs the browser in
// through the server's form, as a person would: it takes the form /login
// shows, types the token into it and posts it. The requests are
// synchronous, so that they are done before the page has loaded. Its
// frame is then a page of another origin on the same site.
const loginDriver = `<!DOCTYPE html><html><body>
<script>
var get = new XMLHttpRequest();
get.open("GET", "/login?next=/", false);
get.send();
var form = new DOMParser().parseFromString(get.responseText, "text/html").getElementById("login");
form.querySelector("input[name=token]").value = %q;
var post = new XMLHttpRequest();
post.open("POST", form.getAttribute("action"), false);
post.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
post.send(new URLSearchParams(new FormData(form)).toString());
document.write("<p id=logged-in>" + (post.status != 401 && post.responseText.indexOf('id="login"') < 0) + "</p>");
</script>
<iframe src="%s"></iframe>
</body></html>`

// crossOrigin is a page of another origin that posts a predict to the
// server; its site is the server's, so the browser sends the session
// cookie along.
const crossOrigin = `<!DOCTYPE html><html><body><script>
var x = new XMLHttpRequest();
x.withCredentials = true;
x.open("POST", "%s/v1/sensors/1/predict", false);
x.setRequestHeader("Content-Type", "text/plain");
try { x.send('{"x": [0.5, -1, 2, 0.25]}'); } catch (e) {}
</script></body></html>`

// browserLogin checks the login of a browser against h behind a token:
// without a cookie the dashboard sends it to the form; logged in through
// the form it renders the dashboard, which dashboard checks; a predict
// posted from another origin is refused although the browser sends the
// cookie.
func browserLogin(t *testing.T, chromium string, h http.Handler, dashboard func(dom string)) {
	const token = "s3cret-Token"
	var (
		mu        sync.Mutex
		predicts  []string // "status cookie?" of each predict
		evil, srv *httptest.Server
	)
	guarded := api.RequireToken(token, h)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/predict") {
			guarded.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, r)
		_, err := r.Cookie(api.SessionCookie)
		mu.Lock()
		predicts = append(predicts, fmt.Sprintf("%d cookie=%v", rec.Code, err == nil))
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
	mux.HandleFunc("GET /test/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, loginDriver, token, evil.URL)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	evil = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, crossOrigin, srv.URL)
	}))
	t.Cleanup(evil.Close)

	dom := browseIn(t, chromium, t.TempDir(), srv.URL+"/")
	if !strings.Contains(dom, `id="login"`) || !strings.Contains(dom, `name="token"`) {
		t.Errorf("without the cookie the dashboard does not give the login form: %.2000s", dom)
	}
	profile := t.TempDir()
	dom = browseIn(t, chromium, profile, srv.URL+"/test/login")
	if !strings.Contains(dom, `<p id="logged-in">true</p>`) {
		t.Fatalf("the form with the token did not log the browser in: %.2000s", dom)
	}
	mu.Lock()
	if len(predicts) != 1 || predicts[0] != "403 cookie=true" {
		t.Errorf("predicts posted from another origin: %q, want one refused with 403 although it had the cookie", predicts)
	}
	mu.Unlock()
	// The same browser, later: the cookie opens the dashboard.
	dom = browseIn(t, chromium, profile, srv.URL+"/")
	if strings.Contains(dom, `id="login"`) {
		t.Fatalf("the logged-in browser gets the login form: %.2000s", dom)
	}
	dashboard(dom)
}

// browseIn loads url in headless Chromium with the profile in dir (its
// cookies) and returns the DOM it rendered.
func browseIn(t *testing.T, chromium, dir, url string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + dir, "--dump-dom", url}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium, args...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}

// TestBrowserLoginNoView: the login flow in a real browser against a
// server with no group (its dashboard answers 503 once past the guard).
func TestBrowserLoginNoView(t *testing.T) {
	chromium := testkit.Require(t, "chromium", "the login is checked in a real browser")
	browserLogin(t, chromium, (&api.Server{}).Handler(), func(dom string) {
		if !strings.Contains(dom, "no group is served") {
			t.Errorf("logged in, the dashboard does not answer: %.2000s", dom)
		}
	})
}
