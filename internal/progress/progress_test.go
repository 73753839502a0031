package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A buffer is not a terminal: the bar logs lines with count, rate and ETA.
func TestLogLines(t *testing.T) {
	var buf syncBuf
	b := New(1000, "emit", &buf, WithInterval(20*time.Millisecond))
	b.Add(250)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(buf.String(), "msg=progress"); {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line after 5s of 20ms intervals: %q", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Set(1000)
	b.Finish()
	b.Finish() // idempotent
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("want progress lines and a final one, got:\n%s", out)
	}
	first, last := lines[0], lines[len(lines)-1]
	for _, want := range []string{"msg=progress", "job=emit", "samples=250", "total=1000", "percent=25", "rate_per_s=", "eta="} {
		if !strings.Contains(first, want) {
			t.Errorf("first line %q lacks %q", first, want)
		}
	}
	for _, want := range []string{"msg=finished", "samples=1000", "percent=100"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line %q lacks %q", last, want)
		}
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "\x1b") {
		t.Errorf("log mode wrote terminal control characters: %q", out)
	}
}

func TestLogger(t *testing.T) {
	var buf syncBuf
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	b := New(0, "replay", &bytes.Buffer{}, WithLogger(l), WithUnit("messages"), WithInterval(time.Hour))
	b.Add(7)
	b.Finish()
	out := buf.String()
	if !strings.Contains(out, `"messages":7`) || strings.Contains(out, "eta") || strings.Contains(out, "total") {
		t.Errorf("unknown total: %s", out)
	}
}

// On a terminal: a bar with count, rate and ETA.
func TestTerminalBar(t *testing.T) {
	var buf syncBuf
	b := New(100, "emit", &buf, WithTerminal(true))
	b.Set(40)
	time.Sleep(150 * time.Millisecond) // past the render throttle
	b.Set(50)
	st := b.Stats()
	b.Set(100)
	b.Finish()
	out := buf.String()
	for _, want := range []string{"emit", "50%", "(50/100", "samples/s", "100%"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q: %q", want, out)
		}
	}
	if st.Done != 50 || st.Total != 100 || st.Rate <= 0 || st.ETA < 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLive(t *testing.T) {
	var buf bytes.Buffer
	l := NewLive(&buf, true)
	l.Show("a\nb\n")
	l.Show("c\nd\ne")
	want := "a\nb\n" + "\r\x1b[2A\x1b[J" + "c\nd\ne\n"
	if buf.String() != want {
		t.Errorf("terminal frames %q, want %q", buf.String(), want)
	}
	buf.Reset()
	l = NewLive(&buf, false)
	l.Show("one")
	l.Show("two")
	if buf.String() != "one\ntwo\n" {
		t.Errorf("plain frames %q", buf.String())
	}
}
