package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// TestHostileInput sends what an attacker or a clumsy producer would —
// a sensor whose state cannot fit in one table record, a 2 MB gzip-sent
// sample, keys that are no sensor IDs, a null value, deep nesting, a flood
// of junk keys — through franz-go's client to a real `streamrls process`,
// between the samples of good sensors. Every bad message must land in the
// dead-letter topic with its reason (cut, but checkable, when too large),
// none may stall the processor or reach the table, the log stays short, and
// every good sensor ends exact and equal to the oracle.
func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	names := topology.Names{}.WithDefaults()
	const sensors, dim, count, seed = 4, 10, 2000, 3
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(names.Input),
		kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerBatchMaxBytes(16<<20),
		kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// The 2 MB sample: 10⁶ features, far above any --max-dim.
	var wide bytes.Buffer
	wide.WriteString(`{"y":1,"x":[`)
	for i := range 1000000 {
		if i > 0 {
			wide.WriteByte(',')
		}
		wide.WriteByte('0')
	}
	wide.WriteString(`]}`)
	big := make([]float64, 1024)
	big[0] = 1
	sample := codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: make([]float64, dim), Y: 1}})
	bad := []struct {
		key, value []byte
		reason     string
	}{
		{[]byte("big"), codec.AppendBinary(nil, []codec.Sample{{X: big, Y: 1}}), processor.ReasonStateTooLarge},
		{[]byte("wide"), wide.Bytes(), processor.ReasonMaxDim},
		{[]byte("\xff\xfe"), sample, processor.ReasonBadKey},
		{[]byte("a\x00b"), sample, processor.ReasonBadKey},
		{[]byte("."), sample, processor.ReasonBadKey},
		{[]byte(".."), sample, processor.ReasonBadKey},
		{bytes.Repeat([]byte("k"), processor.MaxKeyBytes+1), sample, processor.ReasonBadKey},
		{[]byte(""), sample, processor.ReasonEmptyKey},
		{[]byte("1"), nil, processor.ReasonTombstone},
		{[]byte("deep"), []byte(`{"y":1,"x":[1],"z":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`), processor.ReasonDecode},
	}
	const junk = 200
	for i := range junk {
		bad = append(bad, struct {
			key, value []byte
			reason     string
		}{[]byte("junk-" + strconv.Itoa(i)), []byte("oops"), processor.ReasonDecode})
	}
	wantReasons := map[string]int{}
	for _, m := range bad {
		wantReasons[m.reason]++
	}

	// Good samples around the bad ones, through the real emitter.
	emit := func(from int64) {
		if n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim,
			Count: count / 2, Format: codec.FormatJSON, Seed: seed + uint64(from)}); err != nil || n != count/2 {
			t.Fatalf("emit: %d of %d: %v", n, count/2, err)
		}
	}
	emit(0)
	for _, m := range bad {
		r := &kgo.Record{Key: m.key, Value: m.value}
		if m.key == nil {
			r.Key = []byte{}
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce key %q: %v", m.key, err)
		}
	}
	emit(1)
	xs, ys := testkit.SensorSamples(sensors, dim, count/2, seed)
	xs2, ys2 := testkit.SensorSamples(sensors, dim, count/2, seed+1)
	for i := range xs {
		xs[i], ys[i] = append(xs[i], xs2[i]...), append(ys[i], ys2[i]...)
	}

	p := start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0", "--max-dim", "1024", "--max-value-bytes", "4MiB")
	url := p.HTTPURL(t)
	v := testkit.StartView(t, ctx, kc, names.Group)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)

	// Every bad message counted under its reason, and the processor never restarted.
	testkit.Eventually(t, 30*time.Second, func() error {
		fams, err := tryScrape(url)
		if err != nil {
			return err
		}
		for reason, n := range wantReasons {
			if got, _ := value(fams, "streamrls_samples_rejected_total", "reason", reason); got != float64(n) {
				return fmt.Errorf("rejected %q: %v, want %d", reason, got, n)
			}
		}
		if got, _ := value(fams, "streamrls_processor_restarts_total"); got != 0 {
			return fmt.Errorf("the processor restarted %v times", got)
		}
		return nil
	})

	// None of them reached the table: only the good sensors are there.
	ids, more, err := v.Sensors("", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1", "2", "3", "4"}; more || fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("table sensors %q (more %v), want %q", ids, more, want)
	}

	// Every bad message is in the dead-letter topic with its reason; the
	// 2 MB one cut, with its size and SHA-256.
	dl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(names.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	got := map[string]int{}
	var wideDL *kgo.Record
	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for n := 0; n < len(bad); {
		fs := dl.PollFetches(deadline)
		if err := deadline.Err(); err != nil {
			t.Fatalf("dead letters: %d of %d read: %v", n, len(bad), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			h := map[string]string{}
			for _, hd := range r.Headers {
				h[hd.Key] = string(hd.Value)
			}
			got[h[schema.HeaderReason]]++
			if string(r.Key) == "wide" {
				wideDL = r
			}
		})
	}
	if fmt.Sprint(got) != fmt.Sprint(wantReasons) {
		t.Errorf("dead letters by reason %v, want %v", got, wantReasons)
	}
	if wideDL == nil {
		t.Fatal("no dead letter for the 2 MB sample")
	}
	h := map[string]string{}
	for _, hd := range wideDL.Headers {
		h[hd.Key] = string(hd.Value)
	}
	sum := sha256.Sum256(wide.Bytes())
	if len(wideDL.Value) != processor.MaxDeadLetterValue || !bytes.HasPrefix(wide.Bytes(), wideDL.Value) ||
		h[schema.HeaderOriginalSize] != strconv.Itoa(wide.Len()) || h[schema.HeaderOriginalSHA256] != hex.EncodeToString(sum[:]) {
		t.Errorf("2 MB dead letter: %d bytes (want the first %d), headers %v", len(wideDL.Value), processor.MaxDeadLetterValue, h)
	}

	// The log: 200 junk messages give at most a few lines of reason decode.
	if n := strings.Count(p.Output(), `reason=decode`); n > 5 {
		t.Errorf("%d log lines of reason decode for %d undecodable messages: want at most 5", n, junk+1)
	}
}
