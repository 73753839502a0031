package main

import (
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
)

// scoreFlags are the scoring flags of every role that runs a processor
// (process, replay, run): what every sample is tested for and what is
// published of it.
type scoreFlags struct {
	publish, robust bool
	anomalyZ, anomalyRate,
	level float64
	fs                    *pflag.FlagSet
	drift, onDrift, model string
}

func (s *scoreFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&s.publish, "scores", false, "publish every applied sample's scores to GROUP-scores (anomaly and drift events go to GROUP-events either way)")
	fs.Float64Var(&s.anomalyRate, "anomaly-rate", rls.DefaultAnomalyRate, "false-alarm budget: expected anomalous samples per clean sample and sensor (the threshold is fitted to it); 0: none")
	fs.Float64Var(&s.anomalyZ, "anomaly-z", 0, "expert override of --anomaly-rate when set: a fixed threshold on |az|, e.g. 4; 0: no anomalies")
	fs.BoolVar(&s.robust, "robust", false, "update the models with the error clipped at 3 robust scales (Huber), so gross outliers do not drag θ")
	s.fs = fs
	fs.StringVar(&s.drift, "drift-detect", "on", "the per-model change detector on z: on (CUSUM, docs/operations.md), off or cusum:K:H:KSCALE:HSCALE")
	fs.StringVar(&s.onDrift, "on-drift", "none", "what a model does when its detector fires: none (count and publish) or reset (also P ← δ·I, keeping θ)")
	fs.Float64Var(&s.level, "interval-level", rls.DefaultIntervalLevel, "coverage of the prediction intervals of GROUP-scores, in (0, 1)")
	fs.StringVar(&s.model, "score-model", "", "the model whose anomalies are events and counted in streamrls_anomalies_total (default: the first --model)")
}

// apply sets cfg's learner (the bank of specs with these tests) and its
// scoring.
func (s *scoreFlags) apply(cfg *processor.Config, specs []rls.Spec) error {
	sc := rls.DefaultScoring()
	sc.Robust = s.robust
	switch {
	case !(s.anomalyRate >= 0 && s.anomalyRate < 0.5):
		return flagErr("--anomaly-rate %v: want a rate in (0, 0.5), or 0 for no anomalies", s.anomalyRate)
	case s.anomalyRate == 0:
		sc.AnomalyZ = math.Inf(1)
	default:
		sc.AnomalyRate = s.anomalyRate
	}
	if s.fs != nil && s.fs.Changed("anomaly-z") {
		switch {
		case math.IsNaN(s.anomalyZ) || s.anomalyZ < 0:
			return flagErr("--anomaly-z %v: want > 0, or 0 for no anomalies", s.anomalyZ)
		case s.anomalyZ == 0:
			sc.AnomalyZ = math.Inf(1)
		default:
			sc.AnomalyZ = s.anomalyZ
		}
	}
	if err := s.parseDrift(&sc); err != nil {
		return err
	}
	switch s.onDrift {
	case "none":
		sc.OnDrift = rls.DriftNone
	case "reset":
		sc.OnDrift = rls.DriftReset
	default:
		return flagErr("--on-drift %q: want none or reset", s.onDrift)
	}
	if err := sc.Validate(); err != nil {
		return flagErr("%v", err)
	}
	if !(s.level > 0 && s.level < 1) {
		return flagErr("--interval-level %v: want a level in (0, 1), e.g. 0.95", s.level)
	}
	if s.model != "" {
		found := false
		for _, sp := range specs {
			found = found || sp.Name == s.model
		}
		if !found {
			return flagErr("--score-model %q: no --model of that name", s.model)
		}
	}
	cfg.Learner = processor.RLS{Specs: specs, Scoring: &sc}
	cfg.Scoring = processor.Scoring{Publish: s.publish, Model: s.model, IntervalLevel: s.level}
	return nil
}

func (s *scoreFlags) parseDrift(sc *rls.Scoring) error {
	switch {
	case s.drift == "on":
		return nil
	case s.drift == "off":
		sc.DriftOff = true
		return nil
	case strings.HasPrefix(s.drift, "cusum:"):
		f := strings.Split(strings.TrimPrefix(s.drift, "cusum:"), ":")
		if len(f) != 4 {
			return flagErr("--drift-detect %q: want cusum:K:H:KSCALE:HSCALE", s.drift)
		}
		var v [4]float64
		for i, p := range f {
			x, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return flagErr("--drift-detect %q: %q is not a number", s.drift, p)
			}
			v[i] = x
		}
		c := rls.DefaultCUSUM()
		c.K, c.H, c.KScale, c.HScale = v[0], v[1], v[2], v[3]
		if err := c.Validate(); err != nil {
			return flagErr("--drift-detect %q: %v", s.drift, err)
		}
		sc.Drift = c
		return nil
	}
	return flagErr("--drift-detect %q: want on, off or cusum:K:H:KSCALE:HSCALE", s.drift)
}
