//go:build !unix

package tablestore

// LockFile is the name of the lock file LockDir takes in a state directory.
const LockFile = "LOCK"

// LockDir does not lock on systems without flock(2): a second process on
// the same state directory is then not refused.
func LockDir(dir string) (release func() error, err error) {
	return func() error { return nil }, nil
}
