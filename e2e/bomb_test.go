package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// TestGzipBomb sends one gzip record of spaces before a valid sample, far
// over --max-value-bytes once decompressed but small on the wire, to a
// real `streamrls process` at its defaults: it is dead-lettered as
// too-large, the sensor's next sample is applied, the processor never
// restarts, and its resident memory comes back down.
func TestGzipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, time.Minute)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 1); err != nil {
		t.Fatal(err)
	}
	p := start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	url := p.HTTPURL(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(names.Input),
		kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerBatchMaxBytes(256<<20),
		kgo.BrokerMaxWriteBytes(512<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const size = 100 << 20
	sample := []byte(`{"y":1,"x":[1,2,3]}`)
	bomb := append(bytes.Repeat([]byte(" "), size), sample...)
	send := func(v []byte) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("s"), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	send(sample)
	testkit.Eventually(t, 30*time.Second, func() error {
		return metricIs(url, "streamrls_samples_applied_total", 1)
	})
	before, err := residentBytes(p.Cmd.Process.Pid)
	if err != nil {
		t.Skipf("no resident size: %v", err)
	}
	send(bomb)
	send(sample)
	bomb = nil
	testkit.Eventually(t, 30*time.Second, func() error {
		fams, err := tryScrape(url)
		if err != nil {
			return err
		}
		if n, _ := value(fams, "streamrls_samples_rejected_total", "reason", processor.ReasonTooLarge); n != 1 {
			return fmt.Errorf("%v too-large rejections, want 1", n)
		}
		if n, _ := value(fams, "streamrls_samples_applied_total"); n != 2 {
			return fmt.Errorf("%v samples applied, want 2", n)
		}
		if n, _ := value(fams, "streamrls_processor_restarts_total"); n != 0 {
			return fmt.Errorf("the processor restarted %v times", n)
		}
		return nil
	})

	dl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(names.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	fs := dl.PollRecords(rctx, 1)
	if err := rctx.Err(); err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	r := fs.Records()[0]
	h := map[string]string{}
	for _, hd := range r.Headers {
		h[hd.Key] = string(hd.Value)
	}
	if h[schema.HeaderReason] != processor.ReasonTooLarge || h[schema.HeaderOriginalSize] != strconv.Itoa(size+len(sample)) {
		t.Errorf("dead letter headers %v, want reason %s and the original size", h, processor.ReasonTooLarge)
	}

	// The decompressed batch is garbage once refused: resident memory comes
	// back to within a fraction of the value's size of what it was.
	testkit.Eventually(t, 20*time.Second, func() error {
		rss, err := residentBytes(p.Cmd.Process.Pid)
		if err != nil {
			return err
		}
		if rss > before+size/4 {
			return fmt.Errorf("resident %d bytes, %d before the bomb: want at most %d more", rss, before, size/4)
		}
		return nil
	})
}

// residentBytes is a process's resident set size (Linux).
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
