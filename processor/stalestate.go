package processor

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka/storage"
)

// StaleStateError is a processor's failure while a local table copy is newer
// than its partition of the table topic on the broker: the broker's data was
// wiped or the topic recreated. goka reports this as text only, so Run finds
// it by comparing the offsets itself.
type StaleStateError struct {
	StateDir  string
	Table     string
	Partition int32
	Local     int64 // the newest table offset in the local copy
	End       int64 // the offset after the partition's newest message
	Err       error // goka's error
}

func (e *StaleStateError) Error() string {
	return fmt.Sprintf("%v\nthe local state in %s is newer than the table topic %s on the broker (partition %d: offset %d locally, "+
		"the topic ends at %d; the broker's data was wiped or the topic recreated): delete %s and restart; the state is rebuilt from the topic",
		e.Err, e.StateDir, e.Table, e.Partition, e.Local, e.End, e.StateDir)
}

func (e *StaleStateError) Unwrap() error { return e.Err }

// localOffsets records the offset goka reads from each local table copy
// when it recovers the copy.
type localOffsets struct {
	mu sync.Mutex
	m  map[int32]int64
}

// track wraps the table's storage builder b.
func (o *localOffsets) track(b storage.Builder) storage.Builder {
	return func(topic string, p int32) (storage.Storage, error) {
		st, err := b(topic, p)
		if err != nil {
			return nil, err
		}
		return offsetReader{st, o, p}, nil
	}
}

type offsetReader struct {
	storage.Storage
	o *localOffsets
	p int32
}

func (r offsetReader) GetOffset(def int64) (int64, error) {
	off, err := r.Storage.GetOffset(def)
	if err == nil {
		r.o.mu.Lock()
		defer r.o.mu.Unlock()
		if r.o.m == nil {
			r.o.m = map[int32]int64{}
		}
		r.o.m[r.p] = off
	}
	return off, err
}

// explain returns a *StaleStateError for the processor's error err when a
// local copy goka read is newer than its table partition, else err.
func (o *localOffsets) explain(err error, cfg Config) error {
	if err == nil {
		return nil
	}
	o.mu.Lock()
	local := maps.Clone(o.m)
	o.mu.Unlock()
	if len(local) == 0 {
		return err
	}
	client, table, closeClient, aerr := tableClient(cfg, "streamrls-state-check")
	if aerr != nil {
		return err
	}
	defer closeClient()
	for _, p := range slices.Sorted(maps.Keys(local)) {
		end, gerr := client.GetOffset(table, p, sarama.OffsetNewest)
		if gerr == nil && local[p] >= 0 && local[p] >= end {
			return &StaleStateError{StateDir: cfg.StateDir, Table: table, Partition: p, Local: local[p], End: end, Err: err}
		}
	}
	return err
}
