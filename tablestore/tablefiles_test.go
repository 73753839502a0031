package tablestore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	lstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// TestBufferedTablesFlush writes a table file through the buffer and reads
// it back through the storage underneath: what Sync and Close return from
// has reached the file, and other files are not buffered.
func TestBufferedTablesFlush(t *testing.T) {
	dir := t.TempDir()
	files, err := lstorage.OpenFile(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	stor := bufferedTables{files}
	// LevelDB's names of table and journal files.
	read := func(fd lstorage.FileDesc) []byte {
		t.Helper()
		ext := map[lstorage.FileType]string{lstorage.TypeTable: "ldb", lstorage.TypeJournal: "log"}[fd.Type]
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%06d.%s", fd.Num, ext)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB

	table := lstorage.FileDesc{Type: lstorage.TypeTable, Num: 1}
	w, err := stor.Create(table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(block); err != nil {
		t.Fatal(err)
	}
	if got := len(read(table)); got != 0 {
		t.Errorf("table file holds %d bytes before Sync, want 0 (buffered)", got)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := read(table); !bytes.Equal(got, block) {
		t.Errorf("after Sync the table file holds %d bytes, want the %d written", len(got), len(block))
	}
	if _, err := w.Write(block[:100]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := read(table), append(append([]byte{}, block...), block[:100]...); !bytes.Equal(got, want) {
		t.Errorf("after Close the table file holds %d bytes, want %d", len(got), len(want))
	}

	journal := lstorage.FileDesc{Type: lstorage.TypeJournal, Num: 2}
	jw, err := stor.Create(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer jw.Close()
	if _, err := jw.Write(block[:10]); err != nil {
		t.Fatal(err)
	}
	if got := read(journal); !bytes.Equal(got, block[:10]) {
		t.Errorf("journal holds %q right after a write, want %q (not buffered)", got, block[:10])
	}
}
