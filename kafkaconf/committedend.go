package kafkaconf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committedEnd is goka's topic manager whose newest offset of a partition
// is the offset after its newest committed data record.
//
// goka v1.1.16 recovers a table until it has read the record before the
// partition's high-water mark. When the table is written in transactions,
// that record is a commit or abort marker, which no consumer is handed, so
// the recovery would never end (views never ready, processors never
// started). Nor can goka stop at the last stable offset: records of an
// aborted transaction below it are not handed out either. The end it gets
// is the offset after the newest record that a read-committed consumer is
// handed, found by reading the partition's tail with its markers.
type committedEnd struct {
	goka.TopicManager
	k Kafka
}

// tailTimeout bounds the reading of a partition's tail; past it the
// high-water mark is returned, as goka's own topic manager does.
const tailTimeout = 30 * time.Second

func (t committedEnd) GetOffset(topic string, partition int32, at int64) (int64, error) {
	if at != sarama.OffsetNewest {
		return t.TopicManager.GetOffset(topic, partition, at)
	}
	ctx, cancel := context.WithTimeout(context.Background(), tailTimeout)
	defer cancel()
	end, _, err := t.k.EndOf(ctx, t.TopicManager.GetOffset, topic, partition)
	if err != nil {
		return 0, fmt.Errorf("newest committed record of %s/%d: %w", topic, partition, err)
	}
	return end, nil
}

// OffsetFunc answers for topic/partition the offset at a time or at
// sarama.OffsetNewest or sarama.OffsetOldest, as sarama.Client.GetOffset
// and goka.TopicManager.GetOffset do.
type OffsetFunc func(topic string, partition int32, at int64) (int64, error)

// EndOf is CommittedEnd of topic/partition with the partition's oldest
// offset and high-water mark asked of offsetOf; oldest is returned too. An
// empty partition ends at its high-water mark.
func (k Kafka) EndOf(ctx context.Context, offsetOf OffsetFunc, topic string, partition int32) (end, oldest int64, err error) {
	hwm, err := offsetOf(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return 0, 0, err
	}
	if oldest, err = offsetOf(topic, partition, sarama.OffsetOldest); err != nil || oldest >= hwm {
		return hwm, oldest, err
	}
	end, err = k.CommittedEnd(ctx, topic, partition, oldest, hwm)
	return end, oldest, err
}

// CommittedEnd is the offset after the newest record of topic/partition
// that a read-committed consumer is handed, the end to read up to: the
// high-water mark may be past a transaction's marker, which no consumer
// is handed, or an open transaction's records. oldest and hwm are the
// partition's oldest offset and high-water mark.
//
// It reads the partition backwards from its last stable offset in growing
// windows until a window holds a committed data record; oldest when there
// is none. A partition not written in transactions ends at hwm.
func (k Kafka) CommittedEnd(ctx context.Context, topic string, partition int32, oldest, hwm int64) (int64, error) {
	opts, err := k.KgoOptions()
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	lso, err := lastStable(ctx, cl, topic, partition)
	cl.Close()
	if err != nil {
		return 0, err
	}
	lso = min(lso, hwm)
	for window := int64(16); lso > oldest; window *= 16 {
		from := max(oldest, lso-window)
		end, err := readTail(ctx, opts, topic, partition, from, lso)
		if err != nil || end >= 0 {
			return end, err
		}
		if from == oldest {
			break
		}
	}
	return oldest, nil
}

// lastStable is the last stable offset of topic/partition: the first
// offset of its oldest open transaction, else its high-water mark.
func lastStable(ctx context.Context, cl *kgo.Client, topic string, partition int32) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID, req.IsolationLevel = -1, 1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition, p.Timestamp, p.CurrentLeaderEpoch = partition, -1, -1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("list offsets: %d topics in the answer", len(resp.Topics))
	}
	rp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	return rp.Offset, nil
}

// tailQuiet is how long readTail waits for more records below the last
// stable offset: compaction may have removed the records just below it.
const tailQuiet = 2 * time.Second

// readTail reads topic/partition from offset from up to lso, markers
// included, and returns the offset after the newest data record read (-1:
// none).
func readTail(ctx context.Context, opts []kgo.Opt, topic string, partition int32, from, lso int64) (int64, error) {
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	end, next := int64(-1), from
	for next < lso {
		pctx, cancel := context.WithTimeout(ctx, tailQuiet)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			break
		}
		var ferr error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err != nil && !errors.Is(p.Err, context.DeadlineExceeded) {
				ferr = p.Err
			}
			for _, r := range p.Records {
				if r.Offset >= lso {
					continue
				}
				next = r.Offset + 1
				if !r.Attrs.IsControl() {
					end = r.Offset + 1
				}
			}
		})
		if ferr != nil {
			return 0, ferr
		}
	}
	return end, nil
}
