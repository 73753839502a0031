package tablestore

import (
	"bufio"
	"errors"

	"github.com/syndtr/goleveldb/leveldb"
	lstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// tableWriteBuffer is the write buffer of a LevelDB table file being
// written.
const tableWriteBuffer = 256 << 10

// bufferedTables is LevelDB's file storage with a write buffer on the
// table files it writes. goleveldb writes a table block by block, 4 KiB
// each, with a write(2) apiece, and at many sensors the local copy writes
// tens of thousands of blocks a batch: buffered, BenchmarkWriteStates
// makes 40 times fewer system calls and a state write costs a quarter
// less. A table is read only once it is finished (synced and closed), and
// both flush the buffer first. Journals and manifests are written as
// before.
type bufferedTables struct{ lstorage.Storage }

func (s bufferedTables) Create(fd lstorage.FileDesc) (lstorage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err != nil || fd.Type != lstorage.TypeTable {
		return w, err
	}
	return &bufferedFile{Writer: bufio.NewWriterSize(w, tableWriteBuffer), f: w}, nil
}

type bufferedFile struct {
	*bufio.Writer
	f lstorage.Writer
}

func (w *bufferedFile) Sync() error {
	if err := w.Flush(); err != nil {
		return err
	}
	return w.f.Sync()
}

func (w *bufferedFile) Close() error { return errors.Join(w.Flush(), w.f.Close()) }

// localDB is an open LevelDB and the file storage it was opened on,
// closed together (as leveldb.OpenFile's database closes its own).
type localDB struct {
	*leveldb.DB
	stor lstorage.Storage
}

func (d *localDB) Close() error { return errors.Join(d.DB.Close(), d.stor.Close()) }
