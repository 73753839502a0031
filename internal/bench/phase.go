package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Names of the phases, as --phases spells them.
const (
	PhaseSingle    = "single"
	PhaseCounter   = "counter"
	PhaseBatch     = "batch"
	PhaseLatency   = "latency"
	PhaseProcesses = "processes"
	PhaseScale     = "scale"
	PhaseServe     = "serve"
	PhaseRecovery  = "recovery"
)

// phase is one step of a run.
type phase struct {
	name   string // as --phases spells it
	letter string // its alias, and the label of its rows in the report
	about  string // for errors
	// byDefault says the phase runs when --phases is not given.
	byDefault bool
	run       func(r *runner, ctx context.Context, rep *Report) error
}

// phases are run in this order. Single and counter share their rounds,
// which run alternately, so that their ratio compares runs next to each
// other in time.
var phases = []phase{
	{PhaseSingle, LabelSingle, "in rounds with the counter", true, (*runner).rounds},
	{PhaseCounter, LabelCounter, "in rounds with single", true, (*runner).rounds},
	{PhaseBatch, LabelBatch, "micro-batches", true, into((*runner).batch, func(rep *Report) **Throughput { return &rep.Batch })},
	{PhaseLatency, LabelLatency, "latency", true, into((*runner).latency, func(rep *Report) **Latency { return &rep.Latency })},
	{PhaseProcesses, LabelProcesses, "broker, process and serve as processes", false, into((*runner).serve, func(rep *Report) **Serve { return &rep.Serve })},
	{PhaseScale, LabelScale, "processing at scale", false, into((*runner).scaleProcess, func(rep *Report) **ScaleProcess { return &rep.ScaleProcess })},
	{PhaseServe, LabelServe, "serve at scale", false, into((*runner).scale, func(rep *Report) **Scale { return &rep.Scale })},
	{PhaseRecovery, LabelRecovery, "recovery", false, into((*runner).recovery, func(rep *Report) **Recovery { return &rep.Recovery })},
}

// into is a phase's function from a runner's method that returns the
// phase's result, which goes to the report's field that field returns.
func into[T any](method func(*runner, context.Context) (T, error), field func(*Report) *T) func(*runner, context.Context, *Report) error {
	return func(r *runner, ctx context.Context, rep *Report) (err error) {
		*field(rep), err = method(r, ctx)
		return err
	}
}

// defaultPhases is the phases run when none are given.
func defaultPhases() string {
	var names []string
	for _, p := range phases {
		if p.byDefault {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, ",")
}

// ParsePhases reads a --phases value: comma-separated items, each a
// phase's name or one or more of their letters run together ("acdv"). It
// returns the names of the phases chosen, in the order they run.
func ParsePhases(s string) ([]string, error) {
	chosen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p := phaseNamed(item); p != nil {
			chosen[p.name] = true
			continue
		}
		for _, l := range item {
			p := phaseLettered(string(l))
			if p == nil {
				return nil, fmt.Errorf("unknown phase %q (want %s)", item, phaseList())
			}
			chosen[p.name] = true
		}
	}
	if len(chosen) == 0 {
		return nil, fmt.Errorf("no phase (want %s)", phaseList())
	}
	var names []string
	for _, p := range phases {
		if chosen[p.name] {
			names = append(names, p.name)
		}
	}
	return names, nil
}

func phaseNamed(name string) *phase {
	i := slices.IndexFunc(phases, func(p phase) bool { return p.name == name })
	if i < 0 {
		return nil
	}
	return &phases[i]
}

func phaseLettered(letter string) *phase {
	i := slices.IndexFunc(phases, func(p phase) bool { return p.letter == letter })
	if i < 0 {
		return nil
	}
	return &phases[i]
}

// phaseList is every phase's name and letter, for errors.
func phaseList() string {
	s := make([]string, len(phases))
	for i, p := range phases {
		s[i] = p.name + " (" + p.letter + ")"
	}
	return strings.Join(s, ", ")
}

// rounds runs (c) and (a) alternately, Config.Rounds times, each round on
// new groups over one pre-filled input, and reports their median rounds.
// It runs once for both phases.
func (r *runner) rounds(ctx context.Context, rep *Report) error {
	if r.roundsDone {
		return nil
	}
	r.roundsDone = true
	cfg := r.cfg
	topic := r.name("single")
	var err error
	if r.singlePrefill, r.singleBytes, err = r.prefill(ctx, topic, cfg.Messages, 1); err != nil {
		return err
	}
	kinds := []string{cfg.CounterStorage}
	if cfg.CounterStorage == "both" {
		kinds = []string{"goka", "streamrls"}
	}
	var counters, owns, singles, nobatches, notxs []*Throughput
	for round := range cfg.Rounds {
		for _, kind := range kinds {
			if !slices.Contains(r.chosen, PhaseCounter) {
				break
			}
			t, err := r.counter(ctx, topic, round, kind)
			if err != nil {
				return fmt.Errorf("counter (c) on %s storage, round %d: %w", kind, round+1, err)
			}
			if kind == kinds[0] {
				counters = append(counters, t)
			} else {
				t.Phase = LabelCounterOwn
				owns = append(owns, t)
			}
		}
		if !slices.Contains(r.chosen, PhaseSingle) {
			continue
		}
		t, err := r.single(ctx, topic, strconv.Itoa(round), cfg.BatchInterval, false)
		if err != nil {
			return fmt.Errorf("single (a), round %d: %w", round+1, err)
		}
		singles = append(singles, t)
		if n := len(counters); n > 0 {
			rep.RoundsSingleOverCounter = append(rep.RoundsSingleOverCounter, samplesOver(t, counters[n-1]))
		}
		if cfg.Processes == 0 {
			// The separate processes' flags are the CLI's defaults: the
			// comparison runs in this process only.
			nt, err := r.single(ctx, topic, strconv.Itoa(round), cfg.BatchInterval, true)
			if err != nil {
				return fmt.Errorf("single without transactions (%s), round %d: %w", LabelSingleNoTx, round+1, err)
			}
			notxs = append(notxs, nt)
			rep.RoundsTxOverNoTx = append(rep.RoundsTxOverNoTx, samplesOver(t, nt))
		}
		if cfg.BatchInterval > 0 {
			t, err := r.single(ctx, topic, strconv.Itoa(round), NoBatches, false)
			if err != nil {
				return fmt.Errorf("single without batches (a0), round %d: %w", round+1, err)
			}
			nobatches = append(nobatches, t)
		}
	}
	rep.Counter, rep.CounterOwn, rep.Single = median(counters), median(owns), median(singles)
	rep.SingleNoBatches, rep.SingleNoTx = median(nobatches), median(notxs)
	return nil
}
