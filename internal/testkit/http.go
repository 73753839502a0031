package testkit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// DribbleBody sends head (a request line, its headers and the start of a
// body) to the HTTP server at addr, then chunk every interval, until the
// server answers or limit has passed since the dial. It returns the
// response, its body and how long after the dial it came.
func DribbleBody(t testing.TB, addr, head, chunk string, every, limit time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	start := time.Now() // before the dial: the server's clock starts at its accept
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(conn, chunk); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(start.Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a dribbled body within %v: %v", limit, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, time.Since(start)
}
