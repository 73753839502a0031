package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

// TestRefusedFlags: values that the flags' types accept but streamrls
// cannot use are refused at start, through the real binary, with exit 2
// and a message naming the value and the rule.
func TestRefusedFlags(t *testing.T) {
	long := strings.Repeat("m", 300)
	for _, tc := range []struct {
		name string
		args []string
		want []string // all in stderr
	}{
		{"process model name", []string{"process", "--model", long + ":1:1"}, []string{long, "name is 300 bytes, want at most 255"}},
		{"replay model name", []string{"replay", "--group", "v2", "--model", long + ":1:1"}, []string{long, "at most 255"}},
		{"bench model name", []string{"bench", "--model", long + ":1:1"}, []string{long, "at most 255"}},
		{"serve webhook no secret", []string{"serve", "--state-dir", "x", "--alert-webhook", "http://h/"},
			[]string{"--alert-webhook needs --alert-webhook-secret-file"}},
		{"serve alert label", []string{"serve", "--state-dir", "x", "--alertmanager", "http://h", "--alert-label", "nolabel"},
			[]string{`--alert-label "nolabel": want k=v`}},
		{"serve alertmanager URL", []string{"serve", "--state-dir", "x", "--alertmanager", "ftp://h"}, []string{"want an http or https URL"}},
		{"run alerts without http", []string{"run", "--alertmanager", "http://h"}, []string{"--alertmanager and --alert-webhook need --http"}},
		{"serve group twice", []string{"serve", "--group", "rls", "--group", "rls"}, []string{`--group "rls": given twice`}},
		{"process group a/b", []string{"process", "--group", "a/b"}, []string{`--group "a/b"`, "a-z, A-Z, 0-9", "Kafka's topic names"}},
		{"serve group a/b", []string{"serve", "--group", "a/b"}, []string{`--group "a/b"`, "Kafka's topic names"}},
		{"replay group a/b", []string{"replay", "--group", "a/b"}, []string{`--group "a/b"`, "Kafka's topic names"}},
		{"export group a/b", []string{"export", "--group", "a/b", "--out", "x"}, []string{`--group "a/b"`, "Kafka's topic names"}},
		{"group too long", []string{"process", "--group", strings.Repeat("g", 239)}, []string{"1 to 238 characters"}},
		{"process group empty", []string{"process", "--group", ""}, []string{`--group ""`, "want a name"}},
		{"replay group empty", []string{"replay", "--group", ""}, []string{`--group "": want a name`}},
		{"serve group empty", []string{"serve", "--group", ""}, []string{`--group ""`}},
		{"process topic empty", []string{"process", "--topic", ""}, []string{`--topic ""`, "want a name"}},
		{"emit topic empty", []string{"emit", "--topic", ""}, []string{`--topic ""`, "want a name"}},
		{"emit topic illegal", []string{"emit", "--topic", "a b"}, []string{`"a b"`, "Kafka's topic names"}},
		{"emit noise NaN", []string{"emit", "--noise", "NaN"}, []string{"--noise NaN: want a finite number"}},
		{"emit rate NaN", []string{"emit", "--rate", "NaN"}, []string{"--rate NaN: want a finite number"}},
		{"emit rate Inf", []string{"emit", "--rate", "Inf"}, []string{"--rate +Inf: want a finite number"}},
		{"run noise -Inf", []string{"run", "--noise", "-Inf"}, []string{"--noise -Inf: want a finite number"}},
		{"idle-ttl 1ns", []string{"process", "--idle-ttl", "1ns"}, []string{"--idle-ttl 1ns", "at least 1s"}},
		{"json-y empty segment", []string{"process", "--json-y", "reading..temp", "--json-x", "reading.hum"},
			[]string{`--json-y "reading..temp"`, "non-empty segments"}},
		{"replay json-x alone", []string{"replay", "--group", "v2", "--json-x", "reading.hum"}, []string{`--json-y ""`}},
		{"run json-x inside json-y", []string{"run", "--json-y", "r", "--json-x", "r.h"}, []string{`--json-x "r.h"`}},
		{"max-value-bytes 0", []string{"process", "--max-value-bytes", "0"}, []string{`--max-value-bytes "0"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			switch args[0] {
			case "process", "replay", "serve":
				args = append(args, "--state-dir", t.TempDir())
			}
			if args[0] != "run" {
				// No broker is needed: the flags are refused before any connection.
				args = append(args, "--brokers", "127.0.0.1:1")
			}
			p, code, _ := run(t, tc.name, 30*time.Second, nil, args...)
			stderr := p.Stderr.String()
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, testkit.Tail(stderr, 10))
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, testkit.Tail(stderr, 10))
				}
			}
		})
	}
}

// TestReplayRefusesLiveGroup: a replay into a group that a processor is
// consuming is refused with exit 2, naming the group and its live members,
// instead of sharing its partitions.
func TestReplayRefusesLiveGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, time.Minute)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 2); err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = processor.Run(pctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: rls.DefaultSpecs()},
			StateDir: t.TempDir()})
	}()
	defer wg.Wait()
	defer stop()
	_, admin, err := kc.Admin("test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	testkit.Eventually(t, 30*time.Second, func() error {
		gs, err := admin.DescribeConsumerGroups([]string{names.Group})
		if err != nil || len(gs) != 1 || len(gs[0].Members) == 0 {
			return fmt.Errorf("group %s has no member yet: %v", names.Group, err)
		}
		return nil
	})
	p, code, _ := run(t, "replay", 30*time.Second, nil, "replay", "--brokers", b.Addr(), "--group", names.Group,
		"--state-dir", t.TempDir())
	stderr := p.Stderr.String()
	if code != 2 || !strings.Contains(stderr, `group "rls" has 1 live member(s) that are not replays`) {
		t.Errorf("exit %d, want 2 and the live member named; stderr:\n%s", code, testkit.Tail(stderr, 10))
	}
}
