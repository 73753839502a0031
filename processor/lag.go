package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/topology"
)

// Consumer lag and table recovery are read at scrape time from the goka
// processor that Run currently runs:
//
//   - streamrls_table_recovered{partition}: 1 once the local copy of that
//     partition of the group table has caught up with the table topic
//     (goka PartitionRunning), else 0; one series per partition this process
//     holds (hot-standby copies included).
//   - streamrls_processor_recovered: 1 once every partition is recovered.
//   - streamrls_consumer_lag{topic,partition}: for each input partition this
//     process is assigned, end offset (high-water mark, asked from the broker
//     at scrape time) minus the next offset to process. The next offset is
//     the offset after the last message this process handled in the
//     partition, or, before it has handled one since the assignment, the
//     group's committed offset (the partition's oldest offset when nothing is
//     committed, as a new group starts there). goka's own OffsetLag statistic
//     is refreshed only once a minute, so it is not used.
//
// Each process reports only the partitions it is assigned, so summing the
// lag over every processor of a group gives the group's lag.
var (
	descLag = prometheus.NewDesc("streamrls_consumer_lag",
		"Messages in an assigned input partition not processed yet: end offset minus next offset to process.",
		[]string{"topic", "partition"}, nil)
	descTableRecovered = prometheus.NewDesc("streamrls_table_recovered",
		"1 once this process's local copy of a group-table partition has caught up with the table topic, else 0.",
		[]string{"partition"}, nil)
	descRecovered = prometheus.NewDesc("streamrls_processor_recovered",
		"1 once every partition of the processor is recovered and processing, else 0.", nil, nil)
)

// lagScrapeTimeout bounds the broker round trips of one scrape.
const lagScrapeTimeout = 3 * time.Second

type lagSource struct {
	proc   *goka.Processor
	client sarama.Client
	admin  sarama.ClusterAdmin
	names  topology.Names
	log    *slog.Logger
}

type lagCollector struct{ m *Metrics }

func newLagCollector(m *Metrics) *lagCollector { return &lagCollector{m: m} }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLag
	ch <- descTableRecovered
	ch <- descRecovered
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.source.Load()
	if src == nil {
		ch <- prometheus.MustNewConstMetric(descRecovered, prometheus.GaugeValue, 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagScrapeTimeout)
	defer cancel()
	ch <- prometheus.MustNewConstMetric(descRecovered, prometheus.GaugeValue, bool01(src.proc.Recovered()))
	stats := src.proc.StatsWithContext(ctx)
	var active []int32
	next := map[int32]int64{}
	for p, ps := range stats.Group {
		if ps == nil {
			continue
		}
		if ps.TableStats != nil {
			ch <- prometheus.MustNewConstMetric(descTableRecovered, prometheus.GaugeValue,
				bool01(ps.TableStats.Status == goka.PartitionRunning), strconv.Itoa(int(p)))
			if ps.TableStats.RunMode != 0 { // a hot-standby copy: not assigned
				continue
			}
		}
		active = append(active, p)
		next[p] = -1
		if in := ps.Input[src.names.Input]; in != nil && in.Count > 0 {
			next[p] = in.LastOffset + 1
		}
	}
	if len(active) == 0 {
		return
	}
	sort.Slice(active, func(i, j int) bool { return active[i] < active[j] })
	lags, err := src.lags(active, next)
	if err != nil {
		src.log.Debug("consumer lag not available for this scrape", "err", err)
		return
	}
	for _, p := range active {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lags[p]), src.names.Input, strconv.Itoa(int(p)))
	}
}

// lags computes end − next for each partition; next[p] < 0 means "from the
// committed offset".
func (s *lagSource) lags(partitions []int32, next map[int32]int64) (map[int32]int64, error) {
	topic := s.names.Input
	var committed *sarama.OffsetFetchResponse
	out := make(map[int32]int64, len(partitions))
	for _, p := range partitions {
		end, err := s.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
		n := next[p]
		if n < 0 {
			if committed == nil {
				committed, err = s.admin.ListConsumerGroupOffsets(s.names.Group, map[string][]int32{topic: partitions})
				if errors.Is(err, sarama.ErrGroupIDNotFound) {
					committed, err = new(sarama.OffsetFetchResponse), nil // a new group: nothing committed
				}
				if err != nil {
					return nil, fmt.Errorf("committed offsets of group %s: %w", s.names.Group, err)
				}
			}
			if b := committed.GetBlock(topic, p); b != nil && b.Err == sarama.ErrNoError && b.Offset >= 0 {
				n = b.Offset
			} else if n, err = s.client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
				return nil, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
			}
		}
		out[p] = max(end-n, 0)
	}
	return out, nil
}

// attach makes p the processor the scrape reads; the returned func detaches
// it and closes the Kafka client it opened.
func (m *Metrics) attach(p *goka.Processor, k kafkaconf.Kafka, names topology.Names, log *slog.Logger) (func(), error) {
	client, admin, err := k.Admin("streamrls-metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	src := &lagSource{proc: p, client: client, admin: admin, names: names, log: log}
	m.source.Store(src)
	return func() {
		m.source.CompareAndSwap(src, nil)
		admin.Close() // closes client too
	}, nil
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
