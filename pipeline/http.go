package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamrls/streamrls/api"
)

// HTTP is where a role serves HTTP.
type HTTP struct {
	// Listener accepts the connections; nil: no HTTP. The caller listens,
	// so that a bad address is reported before anything starts.
	Listener net.Listener
	// Token, if set, is required as "Authorization: Bearer TOKEN" on every
	// route but /healthz.
	Token string
	// IdleTimeout of keep-alive connections. Default api.IdleTimeout.
	IdleTimeout time.Duration
}

// group is the part of errgroup.Group the servers use.
type group interface{ Go(func() error) }

// newRegistry is a Prometheus registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves /healthz, by health (nil: always ok), and /metrics of
// reg (nothing without a listener).
func serveMetrics(ctx context.Context, eg group, hc HTTP, reg *prometheus.Registry, health func() error, log *slog.Logger) {
	if hc.Listener == nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", api.Healthz(health))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	serveHTTP(ctx, eg, hc, mux, log)
}

// serveHTTP serves h behind the token of hc until ctx ends.
func serveHTTP(ctx context.Context, eg group, hc HTTP, h http.Handler, log *slog.Logger) {
	if hc.Token != "" {
		h = api.RequireToken(hc.Token, h)
	}
	srv := api.NewHTTPServer(h)
	if hc.IdleTimeout > 0 {
		srv.IdleTimeout = hc.IdleTimeout
	}
	log.Info("http listening", "addr", hc.Listener.Addr().String())
	eg.Go(func() error {
		if err := srv.Serve(hc.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	eg.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
}
