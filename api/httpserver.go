package api

import (
	"net/http"
	"time"
)

// Timeouts of every HTTP server streamrls runs: serve, run --http and the
// /healthz and /metrics servers of process --http and replay --http.
const (
	// ReadHeaderTimeout bounds reading a request's line and headers.
	// Default 5 s: a client that connects and sends nothing (or dribbles
	// its headers) holds a connection no longer than that.
	ReadHeaderTimeout = 5 * time.Second

	// ReadTimeout bounds reading a whole request, body included, from the
	// moment the connection is ready for it. Default 10 s: the largest
	// body the API takes (a predict body, at most MaxPredictBody = 1 MiB)
	// arrives in well under a second on any network the API is meant for,
	// while a client dribbling its body is cut off instead of holding a
	// connection and a goroutine indefinitely.
	ReadTimeout = 10 * time.Second

	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its response. Default 30 s: the slowest answers (a
	// dashboard page of 500 sensors, a plot, /metrics) take well under a
	// second; a client that stops reading its response is cut off.
	WriteTimeout = 30 * time.Second

	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request. Default 60 s, the common load-balancer idle timeout:
	// long enough for a polling client (the dashboard refreshes every 5 s,
	// Go's client keeps idle connections 90 s and retries a request on a
	// connection the server closed while idle), short enough that idle
	// connections do not pile up.
	IdleTimeout = 60 * time.Second
)

// NewHTTPServer returns the http.Server of h with the timeouts above.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
	}
}
