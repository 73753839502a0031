//go:build unix

package tablestore

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLockDirRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir() + "/state"
	release, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	if err == nil {
		t.Fatal("a second LockDir of the same dir succeeded")
	}
	for _, want := range []string{dir, fmt.Sprintf("process %d", os.Getpid()), "its own state dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	release, err = LockDir(dir)
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	_ = release()
}

// TestLockDirHelper holds the lock of $LOCKDIR_HELPER until killed; it is
// the child of TestLockDirReleasedWhenTheHolderIsKilled.
func TestLockDirHelper(t *testing.T) {
	dir := os.Getenv("LOCKDIR_HELPER")
	if dir == "" {
		t.Skip("child process of TestLockDirReleasedWhenTheHolderIsKilled")
	}
	if _, err := LockDir(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(2)
}

// TestLockDirReleasedWhenTheHolderIsKilled: a process killed with SIGKILL
// leaves no lock behind; while it lives, its PID is named.
func TestLockDirReleasedWhenTheHolderIsKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDirHelper$")
	cmd.Env = append(os.Environ(), "LOCKDIR_HELPER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	_, err = LockDir(dir)
	if err == nil {
		t.Fatal("locked a dir another process holds")
	}
	if want := fmt.Sprintf("process %d", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder, %s", err, want)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	release, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock of a killed process not released: %v", err)
	}
	_ = release()
}
