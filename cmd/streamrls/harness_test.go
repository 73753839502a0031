package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/internal/testkit"
)

// The tests of this package run the real binary, built once.
var binPath string

func TestMain(m *testing.M) {
	bin, cleanup, err := testkit.BuildBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// start runs streamrls with args (env adds to the environment) until the
// test ends.
func start(t *testing.T, name string, env []string, args ...string) *testkit.Proc {
	t.Helper()
	return testkit.Start(t, binPath, name, env, args...)
}

// run runs streamrls to its end (at most timeout) and returns its exit code.
func run(t *testing.T, name string, timeout time.Duration, env []string, args ...string) (p *testkit.Proc, code int, took time.Duration) {
	t.Helper()
	p = start(t, name, env, args...)
	select {
	case <-p.Done():
	case <-time.After(timeout):
		p.Kill()
		t.Fatalf("%s still running after %v; stderr:\n%s", name, timeout, testkit.Tail(p.Stderr.String(), 40))
	}
	return p, p.ExitCode(), time.Since(p.Started)
}

// startBroker runs `streamrls broker` on a free port and returns its address.
func startBroker(t *testing.T, args ...string) (*testkit.Proc, string) {
	t.Helper()
	p := start(t, "broker", nil, append([]string{"broker", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)...)
	return p, p.LogAddr(t, "embedded broker listening", 10*time.Second)
}

// metric scrapes one unlabelled counter from a /metrics endpoint.
func metric(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", addr, name)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
