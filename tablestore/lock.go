//go:build unix

package tablestore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file LockDir takes in a state directory.
const LockFile = "LOCK"

// LockDir takes the lock of the state directory dir (creating dir), so that
// a second process on it is refused instead of fighting over its LevelDB
// copies. It fails at once, naming dir and the process holding the lock,
// when another process (or another LockDir of this one) holds it. release
// gives it back. The lock is a flock(2) on dir/LOCK: the kernel drops it
// when its holder dies, however it dies, so a killed process never leaves a
// stale lock.
func LockDir(dir string) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: lock: %w", dir, err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state dir %s is in use by %s (it holds %s): each process needs its own state dir", dir, holder, path)
		}
		return nil, fmt.Errorf("state dir %s: lock %s: %w", dir, path, err)
	}
	// The holder's PID, for the error of the next one; the lock is the
	// flock, not the file's content.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		// Closing the file releases the flock.
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("state dir %s: unlock: %w", dir, err)
		}
		return nil
	}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
