package tablestore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	lstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// damagedSuffix names the file, next to a partition's directory, that says
// a read found the directory damaged: it is moved aside when next opened.
// A file survives a crash of the process between the read and the reopen.
const damagedSuffix = ".damaged"

// partitionDB is where one partition's LevelDB lives, for opening it and
// for naming it in errors and logs.
type partitionDB struct {
	path      string
	topic     string
	partition int32
	log       *slog.Logger
	mark      sync.Once // a damaged open database is marked and logged once
}

func (p *partitionDB) String() string {
	return fmt.Sprintf("%s (topic %s, partition %d)", p.path, p.topic, p.partition)
}

// open opens the partition's LevelDB, creating it if missing. One that is
// damaged (it cannot be opened because files are corrupted or missing, or a
// read found it so earlier) is moved aside, kept for inspection, and a
// fresh empty one takes its place: the local copy is a cache of the
// changelog, and goka rebuilds a copy without an offset from the oldest
// offset of the changelog.
//
// leveldb.RecoverFile is not tried: it rebuilds the manifest from whatever
// tables it finds, so a missing table goes unnoticed and a table the lost
// manifest had made obsolete comes back (a stale state, or an offset that
// disagrees with the values). A wrong state served as right is worse than
// a rebuild.
func (p *partitionDB) open() (*localDB, error) {
	if why, ok := abandoned.LoadAndDelete(p.path); ok {
		if err := p.moveAside(abandonedMsg, why.(string)); err != nil {
			abandoned.Store(p.path, why)
			return nil, err
		}
	}
	if reason, err := os.ReadFile(p.path + damagedSuffix); err == nil {
		if err := p.moveAside(damagedMsg, strings.TrimSpace(string(reason))); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local table copy %s: %w", p, err)
	}
	db, err := p.openLevelDB()
	if err == nil {
		return db, nil
	}
	if !isDamage(err) {
		return nil, fmt.Errorf("open local table copy %s: %w", p, err)
	}
	if err := p.moveAside(damagedMsg, fmt.Sprintf("open: %v", err)); err != nil {
		return nil, err
	}
	db, err = p.openLevelDB()
	if err != nil {
		return nil, fmt.Errorf("open fresh local table copy %s after moving the damaged one aside: %w", p, err)
	}
	return db, nil
}

func (p *partitionDB) openLevelDB() (*localDB, error) {
	// Without CURRENT (or with one naming a missing manifest) goleveldb
	// takes the directory for a new database and deletes the files it
	// holds: when it holds data, say so instead.
	data, err := hasData(p.path)
	if err != nil {
		return nil, err
	}
	stor, err := lstorage.OpenFile(p.path, false)
	if err != nil {
		return nil, err
	}
	db, err := leveldb.Open(bufferedTables{stor}, &opt.Options{
		// Float64 matrices do not compress; snappy only costs CPU.
		Compression:    opt.NoCompression,
		ErrorIfMissing: data,
		// A new sensor (and every junk key) is a read of a missing key:
		// without a filter that reads a block of every level. Tables
		// without a filter (goka's own storage) read as before.
		Filter: filter.NewBloomFilter(10),
		// A processor at many sensors rewrites every state every few
		// seconds, so level 0 fills fast: at goleveldb's defaults (compact
		// at 4 tables, slow every write by 1 ms from 8, stop at 12) the
		// flusher stalls behind compactions. Fewer, larger compactions
		// (tables of 16 MiB instead of 2) cost a bit less CPU; a lookup
		// may read more level-0 tables, but their bloom filters skip most.
		CompactionL0Trigger:    16,
		WriteL0SlowdownTrigger: 32,
		WriteL0PauseTrigger:    64,
		CompactionTableSize:    16 << 20,
	})
	if err != nil {
		stor.Close()
		if data && errors.Is(err, fs.ErrNotExist) {
			return nil, &lerrors.ErrCorrupted{Err: fmt.Errorf("data files but no valid CURRENT file naming a manifest: %w", err)}
		}
		return nil, err
	}
	return &localDB{DB: db, stor: stor}, nil
}

// hasData says whether dir holds LevelDB's data files (a manifest, tables
// or journals), not only the lock and the info log of a database that was
// never created.
func hasData(dir string) (bool, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range es {
		n := e.Name()
		if strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "CURRENT") ||
			strings.HasSuffix(n, ".ldb") || strings.HasSuffix(n, ".sst") || strings.HasSuffix(n, ".log") {
			return true, nil
		}
	}
	return false, nil
}

// isDamage says whether err from LevelDB means its files are corrupted or
// missing, as opposed to a failure of the machine (permissions, a full
// disk, the lock held by another process).
func isDamage(err error) bool {
	var c1 *lerrors.ErrCorrupted
	var c2 *lstorage.ErrCorrupted
	// A table file missing when read surfaces as the file system's error.
	return errors.As(err, &c1) || errors.As(err, &c2) || errors.Is(err, fs.ErrNotExist)
}

// abandoned are the directories of LevelDBs whose close did not finish, by
// path, with the reason. Such a database may still hold the directory's
// lock, so a new one cannot open there, and may still write to its files:
// the directory is moved aside with it, and the partition rebuilt from the
// changelog in a fresh one. Waiting instead might be for ever.
var abandoned sync.Map

// abandonedMsg is the log message of an abandoned copy moved aside.
const abandonedMsg = "local table copy abandoned: moved aside, rebuilding it from the changelog"

// abandon marks the partition's LevelDB, whose close did not finish, to
// be moved aside at the next open.
func (p *partitionDB) abandon(cause error) {
	abandoned.Store(p.path, fmt.Sprintf("close: %v", cause))
	p.log.Error("local table copy abandoned: it is moved aside and rebuilt when opened next",
		"path", p.path, "topic", p.topic, "partition", p.partition, "err", cause)
}

// damagedMsg is the log message of a damaged copy moved aside.
const damagedMsg = "local table copy damaged: moved aside, rebuilding it from the changelog"

// moveAside renames the partition's directory to PATH.corrupt-TIME and
// logs it as msg; reason is what was found.
func (p *partitionDB) moveAside(msg, reason string) error {
	if _, err := os.Stat(p.path); errors.Is(err, fs.ErrNotExist) {
		// Already gone (moved by hand): nothing to keep.
		return p.clearMark()
	}
	base := p.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(p.path, to); err != nil {
		return fmt.Errorf("local table copy %s cannot be moved aside (%s): %w", p, reason, err)
	}
	p.log.Error(msg, "path", p.path, "moved_to", to, "topic", p.topic, "partition", p.partition, "reason", reason)
	return p.clearMark()
}

func (p *partitionDB) clearMark() error {
	if err := os.Remove(p.path + damagedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local table copy %s: %w", p, err)
	}
	return nil
}

// markDamaged records that a read found the partition's directory damaged,
// so that the next open moves it aside.
func (p *partitionDB) markDamaged(cause error) error {
	tmp := p.path + damagedSuffix + ".tmp"
	if err := os.WriteFile(tmp, []byte(cause.Error()+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p.path+damagedSuffix)
}

// failed turns an error of a read or write of the open LevelDB into one
// that names the partition. A damaged database is marked to be moved aside
// at the next open: goka stops on the error and opens the partition again.
func (p *partitionDB) failed(op string, err error) error {
	if !isDamage(err) {
		return fmt.Errorf("local table copy %s: %s: %w", p, op, err)
	}
	var merr error
	p.mark.Do(func() {
		if merr = p.markDamaged(fmt.Errorf("%s: %w", op, err)); merr == nil {
			p.log.Error("local table copy damaged: it is moved aside and rebuilt when opened next",
				"path", p.path, "topic", p.topic, "partition", p.partition, "op", op, "err", err)
		}
	})
	if merr != nil {
		return fmt.Errorf("local table copy %s is damaged: %s: %w (marking it to be moved aside failed: %v)", p, op, err, merr)
	}
	return fmt.Errorf("local table copy %s is damaged (it is moved aside and rebuilt when opened next): %s: %w", p, op, err)
}
