package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// TestSecondServeOnAStateDirIsRefused: a second `streamrls serve` on the
// --state-dir of a running one exits non-zero at once with an error naming
// the directory and the first's PID; the first keeps serving.
func TestSecondServeOnAStateDirIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 2); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	args := []string{"serve", "--brokers", b.Addr(), "--state-dir", stateDir}
	first := startNamed(t, "first streamrls serve", append(args, "--http", "127.0.0.1:0")...)
	url := first.HTTPURL(t)
	if code, err := getJSON(url+"/healthz", nil); err != nil || code != http.StatusOK {
		t.Fatalf("first serve /healthz: %d %v", code, err)
	}

	second := startNamed(t, "second streamrls serve", append(args, "--http", "127.0.0.1:0")...)
	select {
	case <-second.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("a second serve on %s still runs after 15s:\n%s", stateDir, testkit.Tail(second.Output(), 20))
	}
	if second.ExitCode() == 0 {
		t.Errorf("the second serve exited 0")
	}
	if out := second.Output(); !strings.Contains(out, stateDir) || !strings.Contains(out, fmt.Sprint(first.Cmd.Process.Pid)) {
		t.Errorf("the second serve's error names neither %s nor the first's PID %d:\n%s", stateDir, first.Cmd.Process.Pid, out)
	}
	if first.Exited() {
		t.Fatalf("the first serve exited: %v", first.Err())
	}
	if code, err := getJSON(url+"/healthz", nil); err != nil || code != http.StatusOK {
		t.Errorf("first serve /healthz after the second was refused: %d %v", code, err)
	}
	var s struct {
		Sensors []string `json:"sensors"`
	}
	if code, err := getJSON(url+"/v1/sensors", &s); err != nil || code != http.StatusOK {
		t.Errorf("first serve /v1/sensors after the second was refused: %d %v", code, err)
	}
	if err, took := first.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)", err, took)
	}
}
