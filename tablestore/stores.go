package tablestore

import (
	"sync"

	"github.com/lovoo/goka/storage"
)

// Stores remembers the local table copies a storage builder opened, by topic
// and partition. goka gives a callback no handle on its partition's storage,
// and a write that leaves the callback (the processor's batch writer) must
// still reach the same local copy that goka recovers and reads from.
type Stores struct {
	mu sync.Mutex
	m  map[storeKey]storage.Storage
}

type storeKey struct {
	topic     string
	partition int32
}

// Track wraps b so that every storage it builds is remembered; a later one
// for the same topic and partition replaces an earlier one.
func (s *Stores) Track(b storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.m == nil {
			s.m = map[storeKey]storage.Storage{}
		}
		s.m[storeKey{topic, partition}] = st
		return st, nil
	}
}

// Get returns the newest storage built for topic and partition, nil if none.
func (s *Stores) Get(topic string, partition int32) storage.Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[storeKey{topic, partition}]
}
