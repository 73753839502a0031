package kafkaconf

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"
)

// GokaLogger sends goka's log lines to l at debug level: goka logs every
// partition state change, which is noise at info level. Errors that matter
// reach the user as returned errors.
func GokaLogger(l *slog.Logger) goka.Logger { return gokaLogger{l} }

type gokaLogger struct{ l *slog.Logger }

func (g gokaLogger) Print(v ...any)            { g.l.Debug(strings.TrimSpace(fmt.Sprint(v...))) }
func (g gokaLogger) Println(v ...any)          { g.l.Debug(strings.TrimSpace(fmt.Sprintln(v...))) }
func (g gokaLogger) Printf(f string, v ...any) { g.l.Debug(strings.TrimSpace(fmt.Sprintf(f, v...))) }
