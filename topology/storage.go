package topology

import (
	"sync"

	"github.com/lovoo/goka/storage"
)

// StorageBuilder builds the local LevelDB copies of a table under dir, one
// per partition (goka's default layout: dir/TOPIC.PARTITION).
//
// It works around a goka v1.1.16 bug: a view that reconnects after a broker
// restart (WithViewAutoReconnect) recovers again on the storage it already
// has, and storage.MarkRecovered closes an already closed channel — a panic
// that takes the whole process down. Here MarkRecovered runs once per
// storage.
func StorageBuilder(dir string) storage.Builder {
	base := storage.DefaultBuilder(dir)
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := base(topic, partition)
		if err != nil {
			return nil, err
		}
		return &recoverOnce{Storage: st}, nil
	}
}

type recoverOnce struct {
	storage.Storage
	once sync.Once
	err  error
}

func (r *recoverOnce) MarkRecovered() error {
	r.once.Do(func() { r.err = r.Storage.MarkRecovered() })
	return r.err
}
