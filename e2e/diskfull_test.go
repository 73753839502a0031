package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/topology"
)

// mountTmpfs mounts a tmpfs of size (as mount's size option: 20m) on a new
// directory and unmounts it when the test ends. It skips the test where
// mounting is refused (not root); CI runs as root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// Still busy: detach it, the kernel frees it once unused.
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				t.Errorf("umount %s: %v: %s; %v: %s", dir, err, out, err2, out2)
			}
		}
	})
	return dir
}

// TestDiskFull runs `streamrls process` with its --state-dir on a 20 MB
// tmpfs and streams dense high-dimensional samples, whose states do not
// fit there: the local copy's writes fail, the processor stops and is
// rebuilt (counted in streamrls_processor_restarts_total) and /healthz
// answers 503 while it cannot work. Once the tmpfs is grown, processing
// resumes without a hand's restart and every sensor ends with exactly its
// samples.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel() // mostly waits on its processes; runs beside the other parallel tests
	small := mountTmpfs(t, "20m")
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	// A state of 357 dimensions is about 0.73 MB: 40 of them, written as
	// one batch and again by LevelDB's compactions, do not fit in 20 MB.
	const sensors, dim, partitions = 40, 357, 2
	const count, rate, seed = sensors * 24, 40, 7
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed})

	stateDir := filepath.Join(small, "state")
	p := start(t, processArgs(kc, names, stateDir, "--http", "127.0.0.1:0", "--max-dim", fmt.Sprint(dim),
		"--batch-max-interval", "1s")...)
	url := p.HTTPURL(t)
	v := testkit.StartView(t, ctx, kc, names.Group)

	// Stuck: a write fails for want of space, the processor is rebuilt, and
	// fails again while the disk stays full (twice at least here),
	// and /healthz says it does not work meanwhile.
	saw503 := ""
	testkit.Eventually(t, 45*time.Second, func() error {
		if saw503 == "" {
			resp, err := http.Get(url + "/healthz")
			if err == nil {
				var b strings.Builder
				_, _ = fmt.Fprint(&b, resp.Status, " ")
				buf := make([]byte, 4096)
				n, _ := resp.Body.Read(buf)
				b.Write(buf[:n])
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					saw503 = b.String()
				}
			}
		}
		logs := p.Stderr.String()
		if !strings.Contains(logs, "no space left on device") {
			return fmt.Errorf("the processor does not log a full disk")
		}
		fams, err := tryScrape(url)
		if err != nil {
			return err
		}
		if n, _ := value(fams, "streamrls_processor_restarts_total"); n < 2 {
			return fmt.Errorf("streamrls_processor_restarts_total %v", n)
		}
		if saw503 == "" {
			return fmt.Errorf("/healthz never answered 503")
		}
		return nil
	})
	logs := p.Stderr.String()
	t.Logf("stuck at %d samples applied; /healthz said %s", applied(v), strings.TrimSpace(saw503))
	if !strings.Contains(logs, "batch not written") && !strings.Contains(logs, "processor stopped; restarting") {
		t.Errorf("the processor does not log that its batch or local copy failed:\n%s", testkit.Tail(logs, 30))
	}
	if !strings.Contains(saw503, "unhealthy") {
		t.Errorf("/healthz 503 without saying why: %s", saw503)
	}

	// Room again: processing resumes by itself.
	if out, err := exec.Command("mount", "-o", "remount,size=200m", small).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	_, ys := testkit.SensorSamples(sensors, dim, count, seed)
	testkit.WaitSamples(t, v, ys, 60*time.Second)
	// Settled: no sample arrives twice later, and the processor works.
	time.Sleep(time.Second)
	for i := range ys {
		s, _, _ := v.Get(emitter.SensorID(i))
		for _, m := range s.Bank.Models {
			if s.Meta.Samples != uint64(len(ys[i])) || m.Samples != uint64(len(ys[i])) {
				t.Errorf("sensor %s %s: %d samples (model %d), want %d", s.ID, m.Name, s.Meta.Samples, m.Samples, len(ys[i]))
			}
		}
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		if code, err := getJSON(url+"/healthz", nil); err != nil || code != http.StatusOK {
			return fmt.Errorf("/healthz after the disk has room again: %d %v", code, err)
		}
		return nil
	})
	if p.Exited() {
		t.Errorf("the processor exited: %v", p.Err())
	}
}
