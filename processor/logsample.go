package processor

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Rejection logging is sampled per reason: a flood of bad input must not
// flood the log. In every interval the first few rejections of a reason are
// logged in full; the rest are counted, and the count is logged with the
// next rejection of that reason after the interval. Metrics and dead
// letters count every one.
const (
	logFirst    = 5
	logInterval = time.Minute
)

// sampledLog logs lines sampled per reason.
type sampledLog struct {
	mu      sync.Mutex
	reasons map[string]*logWindow
}

type logWindow struct {
	start   time.Time
	logged  int
	skipped int
}

// log logs one line of reason at time now, or counts it.
func (l *sampledLog) log(log *slog.Logger, level slog.Level, now time.Time, msg, reason string, args ...any) {
	l.mu.Lock()
	if l.reasons == nil {
		l.reasons = map[string]*logWindow{}
	}
	w := l.reasons[reason]
	if w == nil {
		w = &logWindow{start: now}
		l.reasons[reason] = w
	}
	skipped, since := 0, w.start
	if now.Sub(w.start) >= logInterval {
		skipped = w.skipped
		*w = logWindow{start: now}
	}
	show := w.logged < logFirst
	if show {
		w.logged++
	} else {
		w.skipped++
	}
	l.mu.Unlock()
	if skipped > 0 {
		log.Log(context.Background(), level, msg+": more not logged", "reason", reason, "count", skipped, "since", since.UTC().Format(time.RFC3339))
	}
	if show {
		log.Log(context.Background(), level, msg, args...)
	}
}
