package exactlyonce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamrls/streamrls/kafkaconf"
)

// Transactions is the GroupHook of a processor that writes each batch of an
// input partition in one Kafka transaction, the batch's input offsets
// included: a batch is written whole or not at all, and only by the member
// that owns the partition.
//
// Each claimed input partition has a transactional writer (Txn) with the
// transactional ID <group>-<topic>-<partition>. Opening it at the start of a
// session fences the partition's previous owner: the broker aborts that
// owner's open transaction, and every later write or commit of the owner
// fails (a paused process that wakes after its partitions moved on, a
// zombie). The batch's offsets are committed in its transaction with the
// session's generation and member ID (KIP-447), so a member that left the
// group cannot commit either. goka's own marks are dropped (the session's
// MarkOffset does nothing): an offset committed outside a transaction could
// overwrite a newer one committed in one.
//
// The start of a claim is the partition's stable committed offset, read once
// the writer fenced the previous owner; sarama reads its start before that,
// and the messages below the stable offset, which a committed transaction
// has applied, are dropped.
type Transactions struct {
	k     kafkaconf.Kafka
	group string
	log   *slog.Logger

	mu       sync.Mutex
	member   member
	txns     map[int32]*Txn
	starts   map[topicPartition]int64
	topicIDs map[string][16]byte
}

// member is the group membership a session's offsets are committed with.
type member struct {
	generation int32
	id         string
}

// TransactionTimeout is the transactions' timeout (Kafka's
// transaction.timeout.ms): the broker aborts a transaction open for longer.
// A batch is open for at most about a batch's longest interval
// (processor.DefaultBatchMaxInterval and its write); Kafka's broker limit,
// transaction.max.timeout.ms, is 15 minutes by default.
const TransactionTimeout = 60 * time.Second

// ErrFenced says that a transaction was refused because another member
// owns its partition now, or the member left the group: the writer must
// drop what it holds of the partition.
var ErrFenced = errors.New("fenced: the partition has another owner now")

// NewTransactions returns the hook of group's processor; the writers
// connect with k.
func NewTransactions(k kafkaconf.Kafka, group string, log *slog.Logger) *Transactions {
	if log == nil {
		log = slog.Default()
	}
	return &Transactions{k: k.WithDefaults(), group: group, log: log, txns: map[int32]*Txn{},
		starts: map[topicPartition]int64{}, topicIDs: map[string][16]byte{}}
}

// TransactionalID is the transactional ID of the writer of topic/partition
// in group.
func TransactionalID(group, topic string, partition int32) string {
	return group + "-" + topic + "-" + strconv.Itoa(int(partition))
}

// Partition returns the writer of input partition p in the current session;
// an error when the session does not claim it.
func (t *Transactions) Partition(p int32) (*Txn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tx := t.txns[p]
	if tx == nil {
		return nil, fmt.Errorf("partition %d: %w (not claimed)", p, ErrFenced)
	}
	return tx, nil
}

// Close closes every writer.
func (t *Transactions) Close() {
	t.mu.Lock()
	txns := t.txns
	t.txns = map[int32]*Txn{}
	t.mu.Unlock()
	for _, tx := range txns {
		tx.cl.Close()
	}
}

// open opens the writers of the session's claims, fencing the partitions'
// previous owners, and reads where each claim starts.
func (t *Transactions) open(ctx context.Context, s sarama.ConsumerGroupSession) error {
	t.Close()
	topicOf := map[int32]string{}
	for _, topic := range slices.Sorted(maps.Keys(s.Claims())) {
		for _, p := range s.Claims()[topic] {
			if _, ok := topicOf[p]; !ok {
				topicOf[p] = topic
			}
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		txns = map[int32]*Txn{}
	)
	for p, topic := range topicOf {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := t.openTxn(ctx, topic, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			txns[p] = tx
		}()
	}
	wg.Wait()
	t.mu.Lock()
	t.txns = txns
	t.member = member{generation: s.GenerationID(), id: s.MemberID()}
	t.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	starts, err := t.committed(ctx, s.Claims())
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.starts = starts
	t.mu.Unlock()
	return nil
}

// openTxn opens the writer of topic/partition and initializes its producer
// ID, which fences the previous writer of the same transactional ID.
func (t *Transactions) openTxn(ctx context.Context, topic string, p int32) (*Txn, error) {
	id := TransactionalID(t.group, topic, p)
	cl, err := newBatchClient(t.k, "streamrls-txn-"+t.group,
		kgo.TransactionalID(id), kgo.TransactionTimeout(TransactionTimeout))
	if err != nil {
		return nil, err
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("transactional ID %s: %w", id, err)
	}
	return &Txn{batchProducer: batchProducer{cl: cl}, t: t, id: id, p: p}, nil
}

// committed reads the group's committed offsets of claims, waiting for the
// transactions that commit offsets of the group to end (require_stable): at
// most until the broker would have aborted them.
func (t *Transactions) committed(ctx context.Context, claims map[string][]int32) (map[topicPartition]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*TransactionTimeout)
	defer cancel()
	opts, err := t.k.KgoOptions()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group, req.RequireStable = t.group, true
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = t.group
	for topic, parts := range claims {
		tid, err := t.topicID(ctx, cl, topic)
		if err != nil {
			return nil, err
		}
		ot := kmsg.NewOffsetFetchRequestTopic()
		ot.Topic, ot.Partitions = topic, parts
		req.Topics = append(req.Topics, ot)
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.TopicID, gt.Partitions = topic, tid, parts
		g.Topics = append(g.Topics, gt)
	}
	req.Groups = append(req.Groups, g)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, fmt.Errorf("committed offsets of group %s: %w", t.group, err)
		}
		starts, err := fetchedOffsets(resp)
		if !errors.Is(err, kerr.UnstableOffsetCommit) {
			return starts, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("committed offsets of group %s: %w", t.group, err)
		case <-time.After(backoff):
		}
	}
}

// fetchedOffsets are the offsets of an OffsetFetch answer, from its group
// (version 8 and later) or its topics.
func fetchedOffsets(resp *kmsg.OffsetFetchResponse) (map[topicPartition]int64, error) {
	g := groupOf(resp)
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	starts := map[topicPartition]int64{}
	for _, rt := range g.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("committed offsets: %w", err)
			}
			starts[topicPartition{rt.Topic, rp.Partition}] = rp.Offset
		}
	}
	return starts, nil
}

// groupOf is the answer's group; the versions before 8 answer for their one
// group at the top level.
func groupOf(resp *kmsg.OffsetFetchResponse) kmsg.OffsetFetchResponseGroup {
	if len(resp.Groups) > 0 {
		return resp.Groups[0]
	}
	g := kmsg.NewOffsetFetchResponseGroup()
	g.ErrorCode = resp.ErrorCode
	for _, rt := range resp.Topics {
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gt.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			gp.Partition, gp.Offset, gp.ErrorCode = rp.Partition, rp.Offset, rp.ErrorCode
			gt.Partitions = append(gt.Partitions, gp)
		}
		g.Topics = append(g.Topics, gt)
	}
	return g
}

// topicID is topic's ID, which the newer versions of the offset requests
// name a topic by.
func (t *Transactions) topicID(ctx context.Context, cl *kgo.Client, topic string) ([16]byte, error) {
	t.mu.Lock()
	id, ok := t.topicIDs[topic]
	t.mu.Unlock()
	if ok {
		return id, nil
	}
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return id, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(resp.Topics) != 1 {
		return id, fmt.Errorf("metadata of %s: %d topics in the answer", topic, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return id, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	id = resp.Topics[0].TopicID
	t.mu.Lock()
	t.topicIDs[topic] = id
	t.mu.Unlock()
	return id, nil
}

// start is where the claim of topic/partition starts: its stable committed
// offset, -1 when none.
func (t *Transactions) start(topic string, partition int32) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if off, ok := t.starts[topicPartition{topic, partition}]; ok {
		return off
	}
	return -1
}

func (t *Transactions) wrap(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return txnHandler{h, t}
}

// txnHandler opens the session's writers before goka recovers its tables,
// and hands goka sessions without marks and claims that start at the
// stable committed offsets.
type txnHandler struct {
	sarama.ConsumerGroupHandler
	t *Transactions
}

func (h txnHandler) Setup(s sarama.ConsumerGroupSession) error {
	if err := h.t.open(s.Context(), s); err != nil {
		h.t.Close()
		return fmt.Errorf("transactions of generation %d: %w", s.GenerationID(), err)
	}
	return h.ConsumerGroupHandler.Setup(noMarks{s})
}

func (h txnHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	err := h.ConsumerGroupHandler.Cleanup(noMarks{s})
	h.t.Close()
	return err
}

func (h txnHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	// InitialOffset is sarama's oldest or newest (negative) when it read no
	// committed offset.
	if start := h.t.start(c.Topic(), c.Partition()); start >= 0 && start > c.InitialOffset() {
		h.t.log.Info("claim starts at the stable committed offset", "topic", c.Topic(), "partition", c.Partition(),
			"sarama", c.InitialOffset(), "committed", start)
		c = startAt(s.Context(), c, start)
	}
	return h.ConsumerGroupHandler.ConsumeClaim(noMarks{s}, c)
}

// noMarks is a session whose marks do nothing: offsets are committed in
// the batches' transactions.
type noMarks struct{ sarama.ConsumerGroupSession }

func (noMarks) MarkOffset(string, int32, int64, string)     {}
func (noMarks) MarkMessage(*sarama.ConsumerMessage, string) {}
func (noMarks) ResetOffset(string, int32, int64, string)    {}

// startAt is c without its messages below offset.
func startAt(ctx context.Context, c sarama.ConsumerGroupClaim, offset int64) sarama.ConsumerGroupClaim {
	out := make(chan *sarama.ConsumerMessage, cap(c.Messages()))
	go func() {
		defer close(out)
		for m := range c.Messages() {
			if m.Offset < offset {
				continue
			}
			select {
			case out <- m:
			case <-ctx.Done():
				// Drain, so that sarama can close the claim.
				for range c.Messages() {
				}
				return
			}
		}
	}()
	return skippedClaim{c, out}
}

type skippedClaim struct {
	sarama.ConsumerGroupClaim
	messages chan *sarama.ConsumerMessage
}

func (c skippedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }

// Offset is the next offset to read of an input topic, committed by a
// transaction.
type Offset struct {
	Topic string
	Next  int64
}

// A Txn writes the batches of one input partition, one transaction each:
// Begin, the batch's records (goka.Producer's EmitWithHeaders), then Commit
// with the batch's input offsets, or Abort.
type Txn struct {
	batchProducer
	t  *Transactions
	id string
	p  int32
}

// Begin opens a transaction.
func (tx *Txn) Begin() error {
	if err := tx.cl.BeginTransaction(); err != nil {
		return tx.fail(fmt.Errorf("begin: %w", err))
	}
	return nil
}

// Commit commits the records produced since Begin, which must have been
// acknowledged and be at least one, together with the input offsets: the
// broker refuses an offset commit of a transaction that wrote nothing.
// Any error aborts the transaction; ErrFenced says the partition has
// another owner or the member left the group.
func (tx *Txn) Commit(ctx context.Context, offsets []Offset) error {
	if err := tx.commitOffsets(ctx, offsets); err != nil {
		return tx.abort(ctx, err)
	}
	if err := tx.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// Whether the broker aborted it (a timeout) or fenced it, the
		// transaction did not commit.
		return tx.abort(ctx, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Abort aborts the transaction, the records not yet produced included.
func (tx *Txn) Abort(ctx context.Context, cause error) error { return tx.abort(ctx, cause) }

func (tx *Txn) abort(ctx context.Context, cause error) error {
	err := errors.Join(tx.cl.AbortBufferedRecords(ctx), tx.cl.EndTransaction(ctx, kgo.TryAbort))
	if err != nil && !isFenced(cause) {
		cause = fmt.Errorf("%w (abort: %w)", cause, err)
	}
	return tx.fail(cause)
}

// fail names the transaction in err, and ErrFenced when it is.
func (tx *Txn) fail(err error) error {
	if isFenced(err) && !errors.Is(err, ErrFenced) {
		return fmt.Errorf("transaction %s: %w: %w", tx.id, ErrFenced, err)
	}
	return fmt.Errorf("transaction %s: %w", tx.id, err)
}

// isFenced says whether err is the broker's refusal of a writer or member
// that no longer owns the partition.
func isFenced(err error) bool {
	for _, e := range []error{ErrFenced, kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.IllegalGeneration,
		kerr.UnknownMemberID, kerr.FencedInstanceID, kerr.InvalidTxnState, kerr.OperationNotAttempted,
		kerr.RebalanceInProgress, kerr.InvalidProducerIDMapping} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// commitOffsets adds the group's offsets to the transaction and commits
// them in it with the session's generation and member ID (KIP-447).
func (tx *Txn) commitOffsets(ctx context.Context, offsets []Offset) error {
	t := tx.t
	t.mu.Lock()
	m := t.member
	t.mu.Unlock()
	return retryConcurrent(ctx, func() error {
		pid, epoch, err := tx.cl.ProducerID(ctx) // EndTxn may have bumped the epoch (KIP-890)
		if err != nil {
			return err
		}
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = tx.id, pid, epoch, t.group
		aresp, err := add.RequestWith(ctx, tx.cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(aresp.ErrorCode); err != nil {
			return fmt.Errorf("add offsets: %w", err)
		}
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = tx.id, t.group, pid, epoch
		req.Generation, req.MemberID = m.generation, m.id
		for _, o := range slices.SortedFunc(slices.Values(offsets), func(a, b Offset) int { return cmp.Compare(a.Topic, b.Topic) }) {
			tid, err := t.topicID(ctx, tx.cl, o.Topic)
			if err != nil {
				return err
			}
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic, rt.TopicID = o.Topic, tid // names up to v5, IDs from v6
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = tx.p, o.Next, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, tx.cl)
		if err != nil {
			return err
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("commit offsets (generation %d): %w", m.generation, err)
				}
			}
		}
		return nil
	})
}

// retryConcurrent calls f until it does not fail with
// CONCURRENT_TRANSACTIONS, which the broker answers while it ends the
// previous transaction, for at most TransactionTimeout.
func retryConcurrent(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(TransactionTimeout)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		err := f()
		if !errors.Is(err, kerr.ConcurrentTransactions) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
	}
}
