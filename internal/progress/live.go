package progress

import (
	"fmt"
	"io"
	"strings"
)

// Live shows a frame of text that is replaced by the next one: on a
// terminal the previous frame is erased and the new one drawn in its place;
// otherwise every frame is written after the previous one.
type Live struct {
	w     io.Writer
	tty   bool
	lines int // lines of the frame on screen
}

// NewLive returns a Live display on w; tty says whether w is a terminal
// (see IsTerminal).
func NewLive(w io.Writer, tty bool) *Live { return &Live{w: w, tty: tty} }

// Terminal says whether frames are redrawn in place.
func (l *Live) Terminal() bool { return l.tty }

// Show draws frame (a final newline is added if missing).
func (l *Live) Show(frame string) error {
	if !strings.HasSuffix(frame, "\n") {
		frame += "\n"
	}
	var b strings.Builder
	if l.tty && l.lines > 0 {
		// Cursor to the start of the first line of the last frame, then
		// clear from there to the end of the screen.
		fmt.Fprintf(&b, "\r\x1b[%dA\x1b[J", l.lines)
	}
	b.WriteString(frame)
	l.lines = strings.Count(frame, "\n")
	_, err := io.WriteString(l.w, b.String())
	return err
}
