package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SessionCookie is the name of the cookie /login sets.
const SessionCookie = "streamrls_session"

// SessionTTL is how long a session cookie stays valid after /login.
const SessionTTL = 12 * time.Hour

// sessionKey signs the session cookies of this process: a restart logs
// every browser out, and a cookie never holds the token.
var sessionKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}()

// RequireToken guards every route of next but GET /healthz with a token.
// An API client sends it as "Authorization: Bearer <token>"; a browser
// logs in at /login with the token once and is then known by a session
// cookie (HttpOnly, SameSite=Strict, Secure over TLS) until /logout or
// SessionTTL. A request with neither gets 401 JSON, or a 303 to /login for
// a browser page. A cookie never authorises a cross-site request that
// changes state: such a request with only the cookie gets 403.
//
// The token comparison takes the same time whatever the guess (both sides
// are hashed first, so not even the token's length leaks).
func RequireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	valid := func(got string) bool {
		sum := sha256.Sum256([]byte(got))
		return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	}
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			next.ServeHTTP(w, r)
			return
		case "/login":
			login(w, r, valid, csrf)
			return
		case "/logout":
			logout(w, r)
			return
		}
		if got, ok := bearer(r.Header.Get("Authorization")); ok && valid(got) {
			next.ServeHTTP(w, r)
			return
		}
		if validSession(r, time.Now()) {
			if err := csrf.Check(r); err != nil {
				writeError(w, http.StatusForbidden, "cross-site request refused: a session cookie does not authorise it (send Authorization: Bearer TOKEN)")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if isPage(r) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="streamrls"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
	})
}

// isPage says whether r asks for a page a person opens in a browser
// (not an API, metrics or probe route).
func isPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return !isJSONRoute(r.URL.Path) && r.URL.Path != "/metrics"
}

type loginPage struct {
	Next   string
	Failed bool
}

// login shows the form (GET) or checks the token it posts (POST).
func login(w http.ResponseWriter, r *http.Request, valid func(string) bool, csrf *http.CrossOriginProtection) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		renderStatus(w, http.StatusOK, "login.html", loginPage{Next: localPath(r.URL.Query().Get("next"))})
	case http.MethodPost:
		// A cross-site form must not log a browser in either.
		if err := csrf.Check(r); err != nil {
			http.Error(w, "cross-site login refused", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		next := localPath(r.PostFormValue("next"))
		if !valid(r.PostFormValue("token")) {
			renderStatus(w, http.StatusUnauthorized, "login.html", loginPage{Next: next, Failed: true})
			return
		}
		http.SetCookie(w, sessionCookie(r, time.Now().Add(SessionTTL)))
		http.Redirect(w, r, next, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// logout clears the session cookie and shows the login form.
func logout(w http.ResponseWriter, r *http.Request) {
	c := sessionCookie(r, time.Unix(0, 0))
	c.Value, c.MaxAge = "", -1
	http.SetCookie(w, c)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath is next if it is a path on this server, else "/": the login
// form never sends a browser elsewhere.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// sessionCookie is a session valid until expires: the expiry and its
// HMAC under sessionKey.
func sessionCookie(r *http.Request, expires time.Time) *http.Cookie {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    exp + "." + base64.RawURLEncoding.EncodeToString(sessionMAC(exp)),
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

func sessionMAC(exp string) []byte {
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// validSession says whether r carries a session cookie of this process
// that has not expired at now.
func validSession(r *http.Request, now time.Time) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false
	}
	exp, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, sessionMAC(exp)) {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && now.Unix() < t
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// renderStatus is render with a status other than 200.
func renderStatus(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = b.WriteTo(w)
}
