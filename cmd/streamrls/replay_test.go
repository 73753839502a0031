package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// TestReplayNewGroup: group rls has processed a topic of two sensors;
// `streamrls replay` into rls-v2 with one model exits 0, rls-v2 holds
// exactly that model equal to the closed-form oracle, and rls is unchanged.
// Both are read through one `serve --group rls --group rls-v2` behind a
// bearer token.
func TestReplayNewGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	const sensors, dim, count, seed = 2, 4, 4000, 7
	names := topology.Names{}.WithDefaults() // rls-samples, group rls
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	if n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim, Count: count, Seed: seed, Format: codec.FormatJSON}); err != nil || n != count {
		t.Fatalf("emit: %d of %d: %v", n, count, err)
	}
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)

	// Group rls, with the default models, processes the topic.
	pctx, stopProc := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := processor.Run(pctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: rls.DefaultSpecs()}, StateDir: t.TempDir()}); err != nil {
			t.Errorf("processor rls: %v", err)
		}
	}()
	var v *view.View
	testkit.Eventually(t, 30*time.Second, func() (err error) {
		v, err = view.New(view.Config{Group: names.Group, Kafka: kc, StateDir: t.TempDir()})
		return err
	})
	vctx, stopView := context.WithCancel(ctx)
	go v.Run(vctx)
	before := map[string]*view.Sensor{}
	testkit.Eventually(t, 60*time.Second, func() error {
		for i := 0; i < sensors; i++ {
			s, ok, err := v.Get(emitter.SensorID(i))
			if err != nil || !ok {
				return fmt.Errorf("sensor %s: ok=%v err=%v", emitter.SensorID(i), ok, err)
			}
			if s.Meta.Samples != uint64(len(ys[i])) {
				return fmt.Errorf("group rls sensor %s: %d of %d samples", s.ID, s.Meta.Samples, len(ys[i]))
			}
			before[s.ID] = s
		}
		return nil
	})
	stopProc()
	wg.Wait()
	stopView()

	// Replay into rls-v2 through the CLI.
	rp, code, took := run(t, "replay", time.Minute, nil, "replay", "--brokers", b.Addr(), "--session-timeout", "2s",
		"--topic", names.Input, "--group", "rls-v2", "--model", "fast:0.95:1", "--state-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("replay exit %d after %v:\n%s", code, took, testkit.Tail(rp.Stderr.String(), 30))
	}
	t.Logf("replay took %v: %s", took, strings.TrimSpace(rp.Stdout.String()))
	m := regexp.MustCompile(`samples=(\d+) sensors=(\d+) .*seconds=([0-9.]+) samples_per_s=(\d+)`).FindStringSubmatch(rp.Stdout.String())
	if m == nil {
		t.Fatalf("no summary on stdout: %q", rp.Stdout.String())
	}
	if m[1] != strconv.Itoa(count) || m[2] != strconv.Itoa(sensors) {
		t.Errorf("summary: samples=%s sensors=%s, want %d and %d", m[1], m[2], count, sensors)
	}

	// One serve for both groups, behind a token.
	const token = "t0ken-for-the-test"
	tokenFile := writeFile(t, "token", token+"\n")
	sp := start(t, "serve", nil, "serve", "--brokers", b.Addr(), "--group", "rls", "--group", "rls-v2",
		"--state-dir", t.TempDir(), "--http", "127.0.0.1:0", "--http-token-file", tokenFile)
	base := "http://" + sp.LogAddr(t, "http listening", 20*time.Second)
	testkit.Eventually(t, 30*time.Second, func() error {
		return get(base+"/readyz", token, http.StatusOK)
	})
	// The token guards everything but /healthz.
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", http.StatusOK},
		{"/v1/sensors/1", "", http.StatusUnauthorized},
		{"/v1/groups/rls-v2/sensors/1", "wrong", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/v1/groups/rls-v3/sensors/1", token, http.StatusNotFound},
	} {
		if err := get(base+c.path, c.token, c.want); err != nil {
			t.Error(err)
		}
	}

	v2 := &client.Client{BaseURL: base, Group: "rls-v2", Token: token}
	v1 := &client.Client{BaseURL: base, Group: "rls", Token: token}
	def := &client.Client{BaseURL: base, Token: token}
	fast := rls.Spec{Name: "fast", Lambda: 0.95, Delta: 1}
	for i := 0; i < sensors; i++ {
		id := emitter.SensorID(i)
		got, err := v2.Sensor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Group != "rls-v2" || got.Samples != uint64(len(ys[i])) || len(got.Models) != 1 {
			t.Fatalf("rls-v2 sensor %s: group %q, %d samples (want %d), %d models (want 1)", id, got.Group, got.Samples, len(ys[i]), len(got.Models))
		}
		gm := got.Models[0]
		if gm.Name != "fast" || gm.Lambda != 0.95 || gm.Delta != 1 || gm.Samples != uint64(len(ys[i])) {
			t.Errorf("rls-v2 sensor %s: model %+v, want fast:0.95:1 with %d samples", id, gm, len(ys[i]))
		}
		theta, p, err := rlstest.Oracle(fast, xs[i], ys[i])
		if err != nil {
			t.Fatal(err)
		}
		if e := testkit.RelErr(gm.Theta, theta); e > 1e-9 {
			t.Errorf("rls-v2 sensor %s: θ off the oracle by %.3g relative", id, e)
		}
		tr := 0.0
		for j := 0; j < dim; j++ {
			tr += p[j*dim+j]
		}
		if e := testkit.RelErr([]float64{gm.PTrace}, []float64{tr}); e > 1e-9 {
			t.Errorf("rls-v2 sensor %s: trace(P) %v, oracle %v", id, gm.PTrace, tr)
		}

		// Group rls is as it was, and is the default group.
		old := before[id]
		for _, c := range []*client.Client{v1, def} {
			o, err := c.Sensor(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if o.Group != "rls" || o.Samples != old.Meta.Samples || o.Offset != old.Meta.Offset || len(o.Models) != len(old.Bank.Models) {
				t.Fatalf("rls sensor %s changed: group %q samples %d offset %d models %d; before: samples %d offset %d models %d",
					id, o.Group, o.Samples, o.Offset, len(o.Models), old.Meta.Samples, old.Meta.Offset, len(old.Bank.Models))
			}
			for j, om := range o.Models {
				bm := old.Bank.Models[j]
				if om.Name != bm.Name || om.Samples != bm.Samples || testkit.RelErr(om.Theta, bm.Theta) != 0 {
					t.Errorf("rls sensor %s model %s changed: θ %v, before %v", id, om.Name, om.Theta, bm.Theta)
				}
			}
		}
	}
	var groups struct{ Groups []string }
	if err := getJSON(base+"/v1/groups", token, &groups); err != nil || strings.Join(groups.Groups, ",") != "rls,rls-v2" {
		t.Errorf("/v1/groups: %v %v", groups.Groups, err)
	}
}

func get(url, token string, want int) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s (token %q): %s, want %d", url, token, resp.Status, want)
	}
	return nil
}

func getJSON(url, token string, out any) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
