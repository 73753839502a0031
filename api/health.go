package api

import "net/http"

// Healthz answers GET /healthz: 200 {"status": "ok"} while check returns
// nil (or check is nil), else 503 {"status": "unhealthy", "error": …}
// saying why. It never needs a token (RequireToken).
func Healthz(check func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if check != nil {
			if err := check(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}
