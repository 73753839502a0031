package processor_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// deadLetters reads every message of the dead-letter topic until want have
// arrived.
func deadLetters(t *testing.T, kc kafkaconf.Kafka, topic string, want int) []*sarama.ConsumerMessage {
	t.Helper()
	c := testkit.Consumer(t, kc)
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []*sarama.ConsumerMessage
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				mu.Lock()
				got = append(got, m)
				mu.Unlock()
			}
		}()
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < want {
			return fmt.Errorf("%d of %d dead letters", len(got), want)
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // anything beyond want would be a bug: let it arrive
	mu.Lock()
	defer mu.Unlock()
	return append([]*sarama.ConsumerMessage(nil), got...)
}

func header(m *sarama.ConsumerMessage, key string) string {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestBadInput interleaves every kind of bad message with good samples: each
// lands in the dead-letter topic with its reason, the good samples' models
// equal the oracle, the sensor counts its rejections and the processor keeps
// running, with timed batches and with a batch per message.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Run("batches", func(t *testing.T) { testBadInput(t, false) })
	t.Run("per message", func(t *testing.T) { testBadInput(t, true) })
}

func testBadInput(t *testing.T, noBatches bool) {
	_, kc := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names := topology.Names{Input: "bad-in", Group: "bad"}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 3); err != nil {
		t.Fatal(err)
	}
	cfg, _ := kc.Sarama()
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(kc.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	const sensor = "7"
	var goodX [][]float64
	var goodY []float64
	good := func(x []float64, y float64) {
		goodX = append(goodX, append([]float64(nil), x...))
		goodY = append(goodY, y)
	}
	type msg struct {
		key    string
		value  []byte
		reason string // "" for good
	}
	var msgs []msg
	sample := func(i int) codec.Sample {
		x := []float64{math.Sin(float64(i)), math.Cos(float64(3 * i)), 1}
		return codec.Sample{X: x, Y: 2*x[0] - x[1] + 0.5 + 0.01*math.Sin(float64(7*i)), Seq: int64(i), HasSeq: true}
	}
	add := func(key string, v []byte, reason string) { msgs = append(msgs, msg{key, v, reason}) }
	i := 0
	next := func() codec.Sample { i++; return sample(i) }
	goodMsg := func(f codec.Format) {
		s := next()
		good(s.X, s.Y)
		add(sensor, codec.Encode(f, nil, []codec.Sample{s}), "")
	}
	goodMsg(codec.FormatJSON)
	goodMsg(codec.FormatText)
	add(sensor, []byte(`{"y": 1, "x": [1, 2`), processor.ReasonDecode)
	goodMsg(codec.FormatBinary)
	add(sensor, []byte(`[1, 2.0`), processor.ReasonDecode)
	bin := codec.Encode(codec.FormatBinary, nil, []codec.Sample{next(), next()})
	add(sensor, bin[:len(bin)-3], processor.ReasonDecode)
	add(sensor, []byte("hello"), processor.ReasonDecode)
	goodMsg(codec.FormatJSON)
	add("", codec.Encode(codec.FormatJSON, nil, []codec.Sample{next()}), processor.ReasonEmptyKey)
	add(sensor, []byte(`{"y": 1, "x": [1, 2, 3, 4]}`), processor.ReasonDimension)
	add(sensor, []byte(`[5, nan, 1.0, 2.0, 3.0]`), processor.ReasonNonFinite)
	add(sensor, codec.Encode(codec.FormatBinary, nil, []codec.Sample{{X: []float64{1, math.Inf(1), 0}, Y: 1}}), processor.ReasonNonFinite)
	add(sensor, []byte(`{"y": 1, "x": [1, 2, 3, 4, 5, 6, 7, 8, 9]}`), processor.ReasonMaxDim)
	add("wide", []byte(`{"y": 1, "x": [1, 2, 3, 4, 5, 6, 7, 8, 9]}`), processor.ReasonMaxDim)
	add(sensor, []byte(`{"y": 1, "x": [1e308, -1e308, 1e308]}`), processor.ReasonNumeric) // xᵀθ overflows
	add(processor.ReservedKey, codec.Encode(codec.FormatJSON, nil, []codec.Sample{next()}), processor.ReasonReservedKey)
	goodMsg(codec.FormatText)
	// A micro-batch with one bad sample: the good ones are applied in order,
	// the message is dead-lettered whole with the bad sample's index.
	b1, b3 := next(), next()
	bad := codec.Sample{X: []float64{math.NaN(), 1, 1}, Y: 0}
	good(b1.X, b1.Y)
	good(b3.X, b3.Y)
	add(sensor, codec.Encode(codec.FormatBinary, nil, []codec.Sample{b1, bad, b3}), processor.ReasonNonFinite)
	for range 40 {
		goodMsg(codec.Formats[i%3])
	}
	wantRejected := 0
	for _, m := range msgs {
		if m.reason != "" && m.key == sensor {
			wantRejected++
		}
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: names.Input, Key: sarama.ByteEncoder(m.key), Value: sarama.ByteEncoder(m.value)}); err != nil {
			t.Fatal(err)
		}
	}

	metrics := processor.NewMetrics(nil)
	specs := rls.DefaultSpecs()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = processor.Run(ctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: specs},
			StateDir: t.TempDir(), MaxDim: 8, Metrics: metrics, NoBatches: noBatches})
	}()
	v := testkit.StartView(t, ctx, kc, names.Group)
	check := func(n int) {
		testkit.Eventually(t, time.Minute, func() error {
			s, ok, err := v.Get(sensor)
			if err != nil || !ok {
				return fmt.Errorf("sensor %s: %v %v", sensor, ok, err)
			}
			if s.Meta.Samples != uint64(n) {
				return fmt.Errorf("%d of %d samples", s.Meta.Samples, n)
			}
			return nil
		})
	}
	check(len(goodY))
	s, _, _ := v.Get(sensor)
	if s.Meta.Rejected != uint64(wantRejected) {
		t.Errorf("rejected = %d, want %d", s.Meta.Rejected, wantRejected)
	}
	for j, m := range s.Bank.Models {
		theta, _, err := rlstest.Oracle(specs[j], goodX, goodY)
		if err != nil {
			t.Fatal(err)
		}
		if e := testkit.RelErr(m.Theta, theta); e > 1e-9 {
			t.Errorf("%s: θ off the oracle by %.3g", m.Name, e)
		}
	}

	var wantReasons []string
	for _, m := range msgs {
		if m.reason != "" {
			wantReasons = append(wantReasons, m.key+"/"+m.reason)
		}
	}
	dls := deadLetters(t, kc, names.DeadLetter, len(wantReasons))
	var gotReasons []string
	for _, m := range dls {
		gotReasons = append(gotReasons, string(m.Key)+"/"+header(m, schema.HeaderReason))
		if header(m, schema.HeaderSourceTopic) != names.Input || header(m, schema.HeaderSourceOffset) == "" ||
			header(m, schema.HeaderSourcePartition) == "" || header(m, schema.HeaderError) == "" {
			t.Errorf("dead letter %q lacks source headers: %v", m.Value, m.Headers)
		}
	}
	sort.Strings(gotReasons)
	sort.Strings(wantReasons)
	if strings.Join(gotReasons, ",") != strings.Join(wantReasons, ",") {
		t.Errorf("dead letters:\n got %v\nwant %v", gotReasons, wantReasons)
	}
	// Original bytes are kept.
	seen := map[string]bool{}
	for _, m := range dls {
		seen[string(m.Value)] = true
	}
	for _, m := range msgs {
		if m.reason != "" && !seen[string(m.value)] {
			t.Errorf("dead letter with value %q missing", m.value)
		}
	}
	foundBatch := false
	for _, m := range dls {
		if header(m, schema.HeaderRejected) == "1" {
			foundBatch = true
		}
	}
	if !foundBatch {
		t.Error("the micro-batch's dead letter does not name rejected sample 1")
	}

	// Still running: one more good sample is applied.
	s2 := next()
	goodX, goodY = append(goodX, s2.X), append(goodY, s2.Y)
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: names.Input, Key: sarama.StringEncoder(sensor), Value: sarama.ByteEncoder(codec.Encode(codec.FormatJSON, nil, []codec.Sample{s2}))}); err != nil {
		t.Fatal(err)
	}
	check(len(goodY))
	cancel()
	wg.Wait()
}
