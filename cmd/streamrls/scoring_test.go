package main

import (
	"math"
	"testing"

	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
)

func scoring(t *testing.T, args ...string) (processor.Config, error) {
	t.Helper()
	var f scoreFlags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	var cfg processor.Config
	return cfg, f.apply(&cfg, rls.DefaultSpecs())
}

func TestScoreFlags(t *testing.T) {
	cfg, err := scoring(t)
	if err != nil {
		t.Fatal(err)
	}
	sc := *cfg.Learner.(processor.RLS).Scoring
	if sc.AnomalyZ != 0 || sc.AnomalyRate != rls.DefaultAnomalyRate || sc.Robust || sc.DriftOff || sc.OnDrift != rls.DriftNone || sc.Drift != rls.DefaultCUSUM() ||
		cfg.Scoring != (processor.Scoring{IntervalLevel: 0.95}) {
		t.Errorf("defaults: %+v, %+v", sc, cfg.Scoring)
	}
	cfg, err = scoring(t, "--scores", "--anomaly-z", "0", "--drift-detect", "cusum:0.25:20:3:50", "--on-drift", "reset",
		"--interval-level", "0.9", "--score-model", "mod2")
	if err != nil {
		t.Fatal(err)
	}
	sc = *cfg.Learner.(processor.RLS).Scoring
	want := rls.CUSUM{K: 0.25, H: 20, KScale: 3, HScale: 50, Clip: rls.DefaultCUSUM().Clip}
	if !math.IsInf(sc.AnomalyZ, 1) || sc.Drift != want || sc.OnDrift != rls.DriftReset ||
		cfg.Scoring != (processor.Scoring{Publish: true, Model: "mod2", IntervalLevel: 0.9}) {
		t.Errorf("set: %+v, %+v", sc, cfg.Scoring)
	}
	if cfg, _ = scoring(t, "--drift-detect", "off"); !cfg.Learner.(processor.RLS).Scoring.DriftOff {
		t.Error("--drift-detect off: detector on")
	}
	cfg, _ = scoring(t, "--anomaly-rate", "1e-4", "--robust")
	if sc := cfg.Learner.(processor.RLS).Scoring; sc.AnomalyRate != 1e-4 || sc.AnomalyZ != 0 || !sc.Robust {
		t.Errorf("--anomaly-rate 1e-4 --robust: %+v", sc)
	}
	cfg, _ = scoring(t, "--anomaly-z", "5")
	if sc := cfg.Learner.(processor.RLS).Scoring; sc.AnomalyZ != 5 {
		t.Errorf("--anomaly-z 5: %+v", sc)
	}
	cfg, _ = scoring(t, "--anomaly-rate", "0")
	if sc := cfg.Learner.(processor.RLS).Scoring; !math.IsInf(sc.AnomalyZ, 1) {
		t.Errorf("--anomaly-rate 0: %+v", sc)
	}
	for _, args := range [][]string{
		{"--anomaly-z", "-1"}, {"--anomaly-z", "NaN"}, {"--anomaly-rate", "-1"}, {"--anomaly-rate", "0.5"}, {"--drift-detect", "maybe"}, {"--drift-detect", "cusum:1:2"},
		{"--drift-detect", "cusum:1:-2:3:4"}, {"--on-drift", "panic"}, {"--interval-level", "1"},
		{"--interval-level", "0"}, {"--score-model", "mod9"},
	} {
		if _, err := scoring(t, args...); exitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
