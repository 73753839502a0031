package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/web/index"
	"github.com/lovoo/goka/web/monitor"
	"github.com/lovoo/goka/web/query"

	"github.com/streamrls/streamrls/view"
)

// GokaBase is where goka's own UI is mounted.
const GokaBase = "/goka"

// GokaUI is goka's own monitor and query pages (github.com/lovoo/goka/web)
// on a gorilla/mux router under GokaBase: GokaBase+"/" lists them,
// GokaBase+"/monitor/" shows the attached processors and views and their
// partitions' state, GokaBase+"/query/" looks a key up in a table.
//
// goka's monitor checks an index against len(list) with > instead of >=,
// so /monitor/view/N with N views panics; GokaUI answers 404 for every
// index out of range before goka sees it, and turns any panic left into a
// 500.
type GokaUI struct {
	router  *mux.Router
	monitor *monitor.Server
	query   *query.Server
	log     *slog.Logger

	mu    sync.Mutex
	views map[*view.View]bool
	nview int
	nproc int
}

// NewGokaUI builds the UI.
func NewGokaUI(log *slog.Logger) *GokaUI {
	if log == nil {
		log = slog.Default()
	}
	r := mux.NewRouter()
	gl := gokaLog{log}
	u := &GokaUI{router: r, log: log, views: map[*view.View]bool{}}
	u.monitor = monitor.NewServer(GokaBase+"/monitor", r, monitor.WithLogger(gl))
	u.query = query.NewServer(GokaBase+"/query", r, query.WithLogger(gl))
	idx := index.NewServer(GokaBase, r)
	idx.AddComponent(u.monitor, "Monitor")
	idx.AddComponent(u.query, "Query")
	return u
}

// AttachView shows a view in the monitor and its table in the query page
// (each sensor rendered as the API's JSON). Attaching a view twice is a
// no-op.
func (u *GokaUI) AttachView(v *view.View) {
	u.mu.Lock()
	if u.views[v] {
		u.mu.Unlock()
		return
	}
	u.views[v] = true
	_ = u.query.AttachSource(v.Table(), func(key string) (any, error) {
		s, ok, err := v.Get(key)
		if err != nil || !ok {
			return nil, err
		}
		return sensorJSON(s, v.Group()), nil
	})
	u.mu.Unlock()
	// The goka view exists once the table was found (View.Run); the monitor
	// shows each one View builds.
	v.OnGokaView(func(gv *goka.View) {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.nview++
		u.monitor.AttachView(gv)
	})
}

// AttachProcessor shows a processor in the monitor (processor.Config's
// OnStart hands each new one over).
func (u *GokaUI) AttachProcessor(p *goka.Processor) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.nproc++
	u.monitor.AttachProcessor(p)
}

// ServeHTTP serves the UI, guarding goka's monitor index checks.
func (u *GokaUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if kind, idx, ok := monitorIndex(r.URL.Path); ok {
		u.mu.Lock()
		n := u.nview
		if kind == "processor" {
			n = u.nproc
		}
		u.mu.Unlock()
		if idx < 0 || idx >= n {
			http.Error(w, fmt.Sprintf("no %s %d here (%d attached)", kind, idx, n), http.StatusNotFound)
			return
		}
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			u.log.Error("goka web UI panicked", "path", r.URL.Path, "panic", p)
			http.Error(w, "internal error in goka's web UI", http.StatusInternalServerError)
		}
	}()
	if r.URL.Path == GokaBase {
		http.Redirect(w, r, GokaBase+"/", http.StatusMovedPermanently)
		return
	}
	u.router.ServeHTTP(w, r)
}

// monitorIndex parses the monitor's indexed paths: /monitor/processor/N,
// /monitor/view/N and /monitor/data/{processor,view}/N.
func monitorIndex(path string) (kind string, idx int, ok bool) {
	rest, found := strings.CutPrefix(path, GokaBase+"/monitor/")
	if !found {
		return "", 0, false
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) == 3 && parts[0] == "data" {
		parts = parts[1:]
	}
	if len(parts) != 2 || (parts[0] != "processor" && parts[0] != "view") {
		return "", 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return parts[0], -1, true
	}
	return parts[0], n, true
}

// gokaLog sends goka web's log lines to slog.
type gokaLog struct{ l *slog.Logger }

func (g gokaLog) Print(v ...any)            { g.l.Debug(fmt.Sprint(v...)) }
func (g gokaLog) Println(v ...any)          { g.l.Debug(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }
func (g gokaLog) Printf(f string, v ...any) { g.l.Debug(fmt.Sprintf(f, v...)) }
