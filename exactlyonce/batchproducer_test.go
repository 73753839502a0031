package exactlyonce_test

import (
	"errors"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
)

// placement is where a producer put a record.
type placement struct {
	partition int32
	offset    int64
}

// emit produces one record through p and waits for its acknowledgement.
func emit(p goka.Producer, topic, key string, headers goka.Headers) (placement, error) {
	done := make(chan struct{})
	var got placement
	var err error
	p.EmitWithHeaders(topic, key, []byte("v-"+key), headers).ThenWithMessage(func(m *sarama.ProducerMessage, e error) {
		if e == nil {
			got = placement{m.Partition, m.Offset}
		}
		err = e
		close(done)
	})
	<-done
	return got, err
}

// TestBatchProducer: through the real broker, the batch producer puts a
// record with PartitionHeader on that partition, a record without one on
// the partition goka's own (sarama) producer gives its key, reports each
// record's offset as the broker assigned it (read back with a sarama
// consumer), and fails a record whose header names no partition.
func TestBatchProducer(t *testing.T) {
	_, kc := testkit.Broker(t)
	_, admin, err := kc.Admin("test")
	if err != nil {
		t.Fatal(err)
	}
	const parts = 6
	for _, topic := range []string{"pinned", "hashed", "reference"} {
		if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	bp, err := exactlyonce.NewBatchProducer(kc, "test-batch")
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	ref, err := exactlyonce.NewProducer(kc, "test-reference")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()

	written := map[placement]string{} // record → its key, to read back
	for i := range 40 {
		key := "sensor-" + strconv.Itoa(i)
		want := int32(i % parts)
		got, err := emit(bp, "pinned", key, goka.Headers{exactlyonce.PartitionHeader: exactlyonce.PartitionBytes(want), "other": []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if got.partition != want {
			t.Errorf("pinned %s: partition %d, want %d", key, got.partition, want)
		}
		written[got] = key

		hashed, err := emit(bp, "hashed", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		byGoka, err := emit(ref, "reference", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hashed.partition != byGoka.partition {
			t.Errorf("key %s: batch producer's partition %d, goka's producer's %d", key, hashed.partition, byGoka.partition)
		}
	}

	consumer, err := sarama.NewConsumer(kc.Brokers, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for p := range int32(parts) {
		pc, err := consumer.ConsumePartition("pinned", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for range 40 / parts {
			m := <-pc.Messages()
			if key := written[placement{p, m.Offset}]; key != string(m.Key) {
				t.Errorf("pinned/%d offset %d holds %q, the producer reported %q there", p, m.Offset, m.Key, key)
			}
		}
		pc.Close()
	}

	if at, err := emit(bp, "pinned", "bad", goka.Headers{exactlyonce.PartitionHeader: exactlyonce.PartitionBytes(parts)}); err == nil {
		t.Errorf("header naming partition %d of %d: produced to %+v, want an error", parts, parts, at)
	}
	if at, err := emit(bp, "pinned", "bad", goka.Headers{exactlyonce.PartitionHeader: {1, 2}}); !errors.Is(err, exactlyonce.ErrBadPartitionHeader) {
		t.Errorf("a 2-byte header: produced to %+v with error %v, want %v", at, err, exactlyonce.ErrBadPartitionHeader)
	}
}

// BenchmarkBatchProducer produces the final write of a processor at
// 100,000 sensors, a 1,326-byte state per sensor pinned over 8 partitions,
// to the embedded broker and waits for every acknowledgement: through goka's
// (sarama) producer, the baseline, and through the batch producer. It
// reports the wall time and the process's CPU (the broker's included) per
// record.
func BenchmarkBatchProducer(b *testing.B) {
	_, kc := testkit.Broker(b)
	_, admin, err := kc.Admin("bench")
	if err != nil {
		b.Fatal(err)
	}
	const records, parts = 100000, 8
	value := make([]byte, 1326)
	for _, c := range []struct {
		name string
		open func(kafkaconf.Kafka, string) (goka.Producer, error)
	}{{"sarama", exactlyonce.NewProducer}, {"franz-go", exactlyonce.NewBatchProducer}} {
		topic := "states-" + c.name
		if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false); err != nil {
			b.Fatal(err)
		}
		p, err := c.open(kc, "bench-"+c.name)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		pins := make([]goka.Headers, parts)
		for i := range pins {
			pins[i] = goka.Headers{exactlyonce.PartitionHeader: exactlyonce.PartitionBytes(int32(i))}
		}
		b.Run(c.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				c0 := processCPU()
				var wg sync.WaitGroup
				wg.Add(records)
				for i := range records {
					p.EmitWithHeaders(topic, strconv.Itoa(i+1), value, pins[i%parts]).Then(func(err error) {
						if err != nil {
							b.Error(err)
						}
						wg.Done()
					})
				}
				wg.Wait()
				cpu += processCPU() - c0
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*records), "µs/record")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*records), "cpu-µs/record")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
