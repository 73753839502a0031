package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/topology"
)

// ReplayConfig describes a replay: a processor of a new group that reads the
// input topic from its oldest offset (a new group always starts there) and
// builds that group's table with its own models. The groups already on the
// topic are not touched: a group has its own offsets, table and dead letters.
type ReplayConfig struct {
	// Config is the processor of the new group (Names.Group is the new
	// group, Model its models). Config.Metrics is created when nil.
	Config
	// Follow keeps the processor running as a live group once it has caught
	// up, until ctx ends. Without it Replay returns once caught up.
	Follow bool
	// Poll is how often the group's committed offsets are read. Default 250ms.
	Poll time.Duration
	// Progress, if set, is called after every poll.
	Progress func(ReplayProgress)
	// CaughtUp, if set, is called once when the group has caught up.
	CaughtUp func(ReplaySummary)
}

// ReplayProgress is how far a replay is: messages committed by the group
// since the replay started, out of those that were on the topic then.
type ReplayProgress struct {
	Done, Total int64
	Samples     uint64 // samples applied by this process so far
	Elapsed     time.Duration
}

// ReplaySummary is the result of a replay up to the end offsets the topic had
// when it started.
type ReplaySummary struct {
	Topic, Group string
	Partitions   int
	Messages     int64  // input messages the group committed during the replay
	Samples      uint64 // samples applied by this process
	Rejected     uint64 // samples rejected by this process (dead letters)
	Sensors      uint64 // sensor states this process created
	Elapsed      time.Duration
}

// Rate is samples applied per second.
func (s ReplaySummary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Samples) / s.Elapsed.Seconds()
}

// ErrReplayInterrupted is returned when ctx ends before a replay (without
// Follow) has caught up.
var ErrReplayInterrupted = errors.New("replay interrupted before it caught up")

// ReplayClientID is the client ID of a replay's Kafka clients. It tells
// the group members that are replays, which may share a group, from live
// processors, which a replay refuses to join.
const ReplayClientID = "streamrls-replay"

// GroupInUseError is a replay into a group that processors other than
// replays are consuming: the replay would take part of their partitions
// and commit their offsets, so that neither reports what it did.
type GroupInUseError struct {
	Group   string
	Members []string // client ID and host of each live member
}

func (e *GroupInUseError) Error() string {
	return fmt.Sprintf("group %q has %d live member(s) that are not replays (%s): a replay builds a group of its own; "+
		"choose another group, or stop those processors first", e.Group, len(e.Members), strings.Join(e.Members, ", "))
}

// Replay runs the processor of rc.Names.Group until the group's committed
// offsets reach the end offsets the input topic had when Replay started,
// then stops it cleanly and returns the summary (or, with Follow, reports
// the summary through CaughtUp and runs on until ctx ends). Committed offsets
// are what marks a message as done: goka commits one only after its state
// write is acknowledged by the table topic. Several replay processes of one
// group share the partitions like any processors; each returns once the
// whole group has caught up.
func Replay(ctx context.Context, rc ReplayConfig) (ReplaySummary, error) {
	cfg := rc.Config
	cfg.Names = cfg.Names.WithDefaults()
	if err := cfg.Names.Validate(); err != nil {
		return ReplaySummary{}, err
	}
	cfg.Kafka = cfg.Kafka.WithDefaults()
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if rc.Poll <= 0 {
		rc.Poll = 250 * time.Millisecond
	}
	log := cfg.Log.With("group", cfg.Names.Group, "topic", cfg.Names.Input)
	sum := ReplaySummary{Topic: cfg.Names.Input, Group: cfg.Names.Group}

	if err := cfg.Kafka.CheckAuth(ctx); kafkaconf.IsAuthError(err) {
		return sum, err
	}
	off, err := newOffsets(cfg.Kafka, cfg.Names)
	if err != nil {
		return sum, err
	}
	defer off.close()
	if err := off.liveMembers(); err != nil {
		return sum, err
	}
	cfg.Options = append(slices.Clip(cfg.Options), goka.WithClientID(ReplayClientID))
	start, end, err := off.bounds()
	if err != nil {
		return sum, err
	}
	sum.Partitions = len(end)
	var total, deleted int64
	resumed := false
	for p := range end {
		total += max(0, end[p]-start[p])
		deleted += off.oldest[p] // before the log start: past the topic's retention
		if start[p] > off.oldest[p] {
			resumed = true
		}
	}
	log.Info("replay starting", "partitions", len(end), "messages", total, "messages_past_retention", deleted,
		"resumes_committed_offsets", resumed, "follow", rc.Follow)

	pctx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	began := time.Now()
	counts := &cfg.Metrics.Counts
	messages0 := int64(counts.Messages.Load())
	go func() { runErr <- Run(pctx, cfg) }()

	finish := func() {
		sum.Elapsed = time.Since(began)
		sum.Samples = counts.Applied.Load()
		sum.Sensors = counts.Sensors.Load()
		sum.Rejected = counts.RejectedAll()
	}
	tick := time.NewTicker(rc.Poll)
	defer tick.Stop()
	caughtUp := false
	for {
		select {
		case err := <-runErr:
			finish()
			if ctx.Err() != nil {
				if rc.Follow && caughtUp {
					return sum, nil
				}
				return sum, fmt.Errorf("%w: %d of %d messages of %s committed by group %s", ErrReplayInterrupted, sum.Messages, total, cfg.Names.Input, cfg.Names.Group)
			}
			if err == nil {
				err = errors.New("processor stopped")
			}
			return sum, fmt.Errorf("replay into group %s: %w", cfg.Names.Group, err)
		case <-tick.C:
		}
		committed, err := off.committed()
		if err != nil {
			log.Warn("reading the group's committed offsets", "err", err)
			continue
		}
		var done int64
		all := true
		for p, e := range end {
			c := committed[p]
			if e <= start[p] {
				continue
			}
			done += min(max(c-start[p], 0), e-start[p])
			if c < e {
				all = false
			}
		}
		sum.Messages = done
		if rc.Progress != nil {
			// Offsets are committed about once a second; the messages this
			// process handled move smoothly in between.
			shown := max(done, min(int64(counts.Messages.Load())-messages0, total))
			rc.Progress(ReplayProgress{Done: shown, Total: total, Samples: counts.Applied.Load(), Elapsed: time.Since(began)})
		}
		if !all || caughtUp {
			continue
		}
		caughtUp = true
		finish()
		if !rc.Follow {
			stop()
			if err := <-runErr; err != nil {
				return sum, fmt.Errorf("replay into group %s: stopping: %w", cfg.Names.Group, err)
			}
			return sum, nil
		}
		if rc.CaughtUp != nil {
			rc.CaughtUp(sum)
		}
	}
}

// offsets reads a topic's offsets and a group's committed offsets.
type offsets struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
	names  topology.Names
	parts  []int32
	oldest map[int32]int64
}

func newOffsets(k kafkaconf.Kafka, names topology.Names) (*offsets, error) {
	client, admin, err := k.Admin("streamrls-replay")
	if err != nil {
		return nil, err
	}
	o := &offsets{client: client, admin: admin, names: names}
	if o.parts, err = client.Partitions(names.Input); err != nil || len(o.parts) == 0 {
		o.close()
		if err == nil || errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, fmt.Errorf("input topic %q does not exist on %s: nothing to replay", names.Input, strings.Join(k.Brokers, ","))
		}
		return nil, fmt.Errorf("input topic %q: %w", names.Input, err)
	}
	return o, nil
}

// liveMembers returns a *GroupInUseError if the group has members that
// are not replays.
func (o *offsets) liveMembers() error {
	gs, err := o.admin.DescribeConsumerGroups([]string{o.names.Group})
	if err != nil {
		return fmt.Errorf("describe group %s: %w", o.names.Group, err)
	}
	var live []string
	for _, g := range gs {
		for _, m := range g.Members {
			if m.ClientId != ReplayClientID {
				live = append(live, m.ClientId+"@"+strings.TrimPrefix(m.ClientHost, "/"))
			}
		}
	}
	if len(live) == 0 {
		return nil
	}
	slices.Sort(live)
	return &GroupInUseError{Group: o.names.Group, Members: live}
}

func (o *offsets) close() {
	o.admin.Close() // closes the client too
}

// bounds returns where the replay starts (the group's committed offset, or
// the oldest offset for a new group) and the end offsets now.
func (o *offsets) bounds() (start, end map[int32]int64, err error) {
	start, end, o.oldest = map[int32]int64{}, map[int32]int64{}, map[int32]int64{}
	committed, err := o.committed()
	if err != nil {
		return nil, nil, err
	}
	for _, p := range o.parts {
		if end[p], err = o.client.GetOffset(o.names.Input, p, sarama.OffsetNewest); err != nil {
			return nil, nil, fmt.Errorf("end offset of %s partition %d: %w", o.names.Input, p, err)
		}
		if o.oldest[p], err = o.client.GetOffset(o.names.Input, p, sarama.OffsetOldest); err != nil {
			return nil, nil, fmt.Errorf("oldest offset of %s partition %d: %w", o.names.Input, p, err)
		}
		start[p] = max(o.oldest[p], committed[p])
	}
	return start, end, nil
}

// committed returns the group's committed offset of every partition (-1:
// none).
func (o *offsets) committed() (map[int32]int64, error) {
	out := make(map[int32]int64, len(o.parts))
	for _, p := range o.parts {
		out[p] = -1
	}
	resp, err := o.admin.ListConsumerGroupOffsets(o.names.Group, map[string][]int32{o.names.Input: o.parts})
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return out, nil // a new group: some brokers say so instead of offset -1
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s on %s: %w", o.names.Group, o.names.Input, err)
	}
	for _, p := range o.parts {
		if b := resp.GetBlock(o.names.Input, p); b != nil {
			if b.Err == sarama.ErrGroupIDNotFound || b.Err == sarama.ErrUnknownTopicOrPartition {
				continue
			}
			if b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("committed offset of group %s on %s partition %d: %w", o.names.Group, o.names.Input, p, b.Err)
			}
			out[p] = b.Offset
		}
	}
	return out, nil
}
