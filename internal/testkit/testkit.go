// Package testkit holds what the integration tests share: an embedded
// broker per test, polling, and the requirement rules for external programs.
package testkit

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/view"
)

// StartView runs a view of group's table, with its state in a temporary
// directory, until ctx ends.
func StartView(t testing.TB, ctx context.Context, kc kafkaconf.Kafka, group string) *view.View {
	t.Helper()
	v, err := view.New(view.Config{Group: group, Kafka: kc, StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("view of group %s: %v", group, err)
	}
	go v.Run(ctx)
	return v
}

// Broker starts an embedded broker on a free port with its data in a
// temporary directory and stops it when the test ends. Its cleaner is off:
// tests read a topic's whole history, some of them twice, and compare; the
// broker package tests the cleaner.
func Broker(t testing.TB) (*broker.Broker, kafkaconf.Kafka) {
	t.Helper()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), CleanerInterval: -1})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Close)
	// Short session timeouts keep tests that stop processors fast.
	return b, kafkaconf.Kafka{Brokers: []string{b.Addr()}, SessionTimeout: 2 * time.Second}.WithDefaults()
}

// Eventually polls cond every 50ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after %v: %v", timeout, err)
}

// Require skips the test when an external program is missing, except on
// CI (CI=true), where a missing program fails it: CI must never pass by
// skipping.
func Require(t testing.TB, program, why string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		Missing(t, program+" ("+why+")")
	}
	return p
}

// Missing skips, or fails on CI, for a missing prerequisite.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is missing: .ci/run must install it", what)
	}
	t.Skipf("skipping: %s is missing (install it, see .ci/run)", what)
}

// Context is a context that ends with the test (or after d).
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
