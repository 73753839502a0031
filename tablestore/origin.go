package tablestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/syndtr/goleveldb/leveldb"
)

// originFile, inside a partition's directory, records the Origin the copy
// was written from. LevelDB ignores files whose names are not its own, and
// the file moves aside with the directory.
const originFile = "STREAMRLS-ORIGIN"

// Origin is what the broker says of one partition of a table topic when
// its local copy is opened: the copy belongs to that cluster and topic, and
// can hold no record past the partition's end.
type Origin struct {
	// Cluster is the cluster ID of Kafka's Metadata response ("": unknown).
	Cluster string `json:"cluster,omitempty"`
	// TopicID is the table topic's ID ("": unknown, as from brokers before
	// Kafka 2.8). A topic deleted and created again has a new one.
	TopicID string `json:"topic_id,omitempty"`
	// End is the partition's end offset, the offset its next record gets
	// (negative: unknown). It is not recorded.
	End int64 `json:"-"`
}

// Mismatch says how found differs from o, recorded with a local copy of
// topic: another cluster or another topic ID ("": none that both know).
func (o Origin) Mismatch(found Origin, topic string) string {
	if o.Cluster != "" && found.Cluster != "" && o.Cluster != found.Cluster {
		return fmt.Sprintf("recorded with cluster %q, the broker is cluster %q", o.Cluster, found.Cluster)
	}
	if o.TopicID != "" && found.TopicID != "" && o.TopicID != found.TopicID {
		return fmt.Sprintf("recorded with topic ID %s, the broker's %s has topic ID %s", o.TopicID, topic, found.TopicID)
	}
	return ""
}

// Merge is found with what of o (recorded) found does not know; changed
// says whether it records more than o, so that o needs writing again.
func (o Origin) Merge(found Origin) (merged Origin, changed bool) {
	if found.Cluster == "" {
		found.Cluster = o.Cluster
	}
	if found.TopicID == "" {
		found.TopicID = o.TopicID
	}
	return found, found.Cluster != o.Cluster || found.TopicID != o.TopicID
}

// OriginFunc reads the Origin of one partition of a topic.
type OriginFunc func(topic string, partition int32) (Origin, error)

// KafkaOrigin reads origins through client: the cluster and topic IDs from
// a Metadata request (KafkaIdentity), the end offset from ListOffsets.
func KafkaOrigin(client sarama.Client) OriginFunc {
	return func(topic string, partition int32) (Origin, error) {
		end, err := client.GetOffset(topic, partition, sarama.OffsetNewest)
		if err != nil {
			return Origin{}, fmt.Errorf("end offset of %s/%d: %w", topic, partition, err)
		}
		o, err := KafkaIdentity(client, topic)
		if err != nil {
			return Origin{}, err
		}
		o.End = end
		return o, nil
	}
}

// KafkaIdentity is the Origin of topic without its end (End -1): the
// cluster and topic IDs from a Metadata request through client.
func KafkaIdentity(client sarama.Client, topic string) (Origin, error) {
	b := client.LeastLoadedBroker()
	if b == nil {
		return Origin{}, errors.New("no broker to ask for the cluster and topic IDs")
	}
	md, err := b.GetMetadata(sarama.NewMetadataRequest(client.Config().Version, []string{topic}))
	if err != nil {
		return Origin{}, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	o := Origin{End: -1}
	if md.ClusterID != nil {
		o.Cluster = *md.ClusterID
	}
	for _, t := range md.Topics {
		if t.Name == topic && t.Uuid != (sarama.Uuid{}) {
			o.TopicID = t.Uuid.String()
		}
	}
	return o, nil
}

// belongs checks the open copy db against the partition's origin as the
// broker reports it now. A copy recorded with another cluster or topic ID,
// or holding a record at or past the partition's end (the topic was
// wiped, recreated, or is another broker's), is not the topic's: it is
// moved aside like a damaged one, with one log line naming the reason, and
// a fresh copy is opened, which goka fills from the changelog. The origin
// is then recorded with the copy. On an error db is closed.
func (p *partitionDB) belongs(db *localDB, originOf OriginFunc) (*localDB, error) {
	found, err := originOf(p.topic, p.partition)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("local table copy %s: check it against the table topic: %w", p, err)
	}
	recorded, err := p.recorded()
	if err != nil {
		db.Close()
		return nil, err
	}
	reason, err := p.foreign(db, recorded, found)
	if err != nil {
		db.Close()
		return nil, err
	}
	if reason != "" {
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("local table copy %s: close: %w", p, err)
		}
		if err := p.moveAside("local table copy does not belong to the table topic: moved aside, rebuilding it from the changelog", reason); err != nil {
			return nil, err
		}
		if db, err = p.openLevelDB(); err != nil {
			return nil, fmt.Errorf("open fresh local table copy %s after moving the foreign one aside: %w", p, err)
		}
		recorded = Origin{}
	}
	if err := p.record(recorded, found); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// foreign says why db does not belong to found ("": it does, as far as
// known). recorded is what was recorded with the copy.
func (p *partitionDB) foreign(db *localDB, recorded, found Origin) (string, error) {
	if why := recorded.Mismatch(found, p.topic); why != "" {
		return fmt.Sprintf("partition %d: %s", p.partition, why), nil
	}
	if found.End < 0 {
		return "", nil
	}
	v, err := db.Get([]byte(OffsetKey), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("local table copy %s: get offset: %w", p, err)
	}
	off, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return fmt.Sprintf("partition %d: stored offset %q is no number", p.partition, v), nil
	}
	// goka stores the offset of the last record it applied.
	if off >= found.End {
		return fmt.Sprintf("partition %d: the copy holds records up to offset %d, the broker's %s ends before offset %d", p.partition, off, p.topic, found.End), nil
	}
	return "", nil
}

// recorded reads the origin recorded with the copy (zero: none).
func (p *partitionDB) recorded() (Origin, error) {
	var o Origin
	b, err := os.ReadFile(filepath.Join(p.path, originFile))
	if errors.Is(err, fs.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("local table copy %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		// Unreadable, it says nothing: the offsets are still checked.
		return Origin{}, nil
	}
	return o, nil
}

// record writes found as the copy's origin, keeping what of recorded found
// does not know.
func (p *partitionDB) record(recorded, found Origin) error {
	o, changed := recorded.Merge(found)
	if !changed {
		return nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	name := filepath.Join(p.path, originFile)
	if err := os.WriteFile(name+".tmp", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("local table copy %s: record its origin: %w", p, err)
	}
	if err := os.Rename(name+".tmp", name); err != nil {
		return fmt.Errorf("local table copy %s: record its origin: %w", p, err)
	}
	return nil
}
