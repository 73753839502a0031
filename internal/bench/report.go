package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as aligned text tables.
func (rep *Report) WriteTable(out io.Writer) error {
	s := rep.Settings
	broker := strings.Join(s.Brokers, ",")
	if s.Embedded {
		broker = "embedded (kfake, in this process)"
	}
	procs := "in this process"
	if s.Processes > 0 {
		procs = fmt.Sprintf("%d separate processes (a, b)", s.Processes)
	}
	fmt.Fprintf(out, "streamrls bench: broker %s; %d partitions, %d sensors, n=%d, models %s; processors %s; GOMAXPROCS %d; producer flush %s; batch interval %s\n",
		broker, s.Partitions, s.Sensors, s.Dim, strings.Join(s.Models, " "), procs, s.GoMaxProcs, s.FlushEvery, s.BatchInterval)
	fmt.Fprintf(out, "state value per sensor: %d bytes (written to LevelDB and the changelog once per message without batches, once per batch with them)\n\n", rep.StateBytes)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	var serve []*Throughput
	if rep.Serve != nil {
		serve = []*Throughput{rep.Serve.NoBatches, rep.Serve.Batches}
	}
	header := false
	for _, t := range append([]*Throughput{rep.Single, rep.SingleNoTx, rep.SingleNoBatches, rep.Batch, rep.Counter, rep.CounterOwn}, serve...) {
		if t == nil {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "phase\tmeasured at\tmessages\tsamples\tbytes/msg\tstart-up s\tseconds\tmessages/s\tsamples/s\tCPU µs/msg\tchangelog B/sample\t")
			header = true
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.0f\t%.0f\t%.1f\t%.1f\t\n",
			t.Phase, t.What, t.MeasuredAt, t.Messages, t.Samples, t.MessageBytes, t.StartupSeconds, t.Seconds, t.MessagesPerSec, t.SamplesPerSec, t.CPUMicros, t.ChangelogBytesPerSample)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Single.roundsOrNil()) > 1 || len(rep.Counter.roundsOrNil()) > 1 {
		fmt.Fprintf(out, "\nmedian of %d rounds; samples/s of every round:", max(len(rep.Single.roundsOrNil()), len(rep.Counter.roundsOrNil())))
		if rep.Single != nil {
			fmt.Fprintf(out, " (a) %s", rates(rep.Single.Rounds))
		}
		if rep.SingleNoTx != nil {
			fmt.Fprintf(out, "  (%s) %s", LabelSingleNoTx, rates(rep.SingleNoTx.Rounds))
		}
		if rep.SingleNoBatches != nil {
			fmt.Fprintf(out, "  (a0) %s", rates(rep.SingleNoBatches.Rounds))
		}
		if rep.Counter != nil {
			fmt.Fprintf(out, "  (c) %s", rates(rep.Counter.Rounds))
		}
		if rep.CounterOwn != nil {
			fmt.Fprintf(out, "  (c') %s", rates(rep.CounterOwn.Rounds))
		}
		fmt.Fprintln(out)
	}
	if rep.SingleOverCounter > 0 {
		fmt.Fprintf(out, "\n(a)/(c) single-sample messages over the goka counter: %.2f (rounds: %s); CPU per message (c)/(a): %.2f\n",
			rep.SingleOverCounter, ratios(rep.RoundsSingleOverCounter), rep.CounterCPUOverSingle)
	}
	if rep.TxOverNoTx > 0 {
		fmt.Fprintf(out, "(a)/(%s) transactional over non-transactional: %.2f (rounds: %s)\n",
			LabelSingleNoTx, rep.TxOverNoTx, ratios(rep.RoundsTxOverNoTx))
	}
	if rep.SingleOverCounterOwn > 0 {
		fmt.Fprintf(out, "(a)/(c') over the goka counter on streamrls's storage: %.2f; CPU per message (c')/(a): %.2f\n",
			rep.SingleOverCounterOwn, rep.CounterOwnCPUOverSingle)
	}
	if rep.SingleNoBatchesOverCounter > 0 || rep.SingleNoBatchesOverCounterOwn > 0 {
		fmt.Fprintf(out, "(a0) without batches: (a0)/(c) %.2f, (a0)/(c') %.2f\n", rep.SingleNoBatchesOverCounter, rep.SingleNoBatchesOverCounterOwn)
	}
	if rep.BatchOverCounter > 0 {
		fmt.Fprintf(out, "(b)/(c) micro-batch samples/s over the goka counter's messages/s: %.1f\n", rep.BatchOverCounter)
	}
	if l := rep.Latency; l != nil {
		fmt.Fprintf(out, "\n(d) emit to view at %.0f samples/s (achieved %.0f), batch interval %s, %d samples after a %.1fs warm-up:\n",
			l.Rate, l.Achieved, l.BatchInterval, l.Samples, l.WarmupSecs)
		fmt.Fprintf(out, "    p50 %.2f ms   p90 %.2f ms   p99 %.2f ms   max %.2f ms\n", l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs)
	}
	if v := rep.Serve; v != nil {
		fmt.Fprintf(out, "\n(v) broker, process and serve as processes, %d single-sample JSON messages in the topic, rate at serve (polled every %.0f ms):\n",
			v.Batches.Messages, v.PollMs+servePause.Seconds()*1000)
		fmt.Fprintf(out, "    batch interval %s: %.0f samples/s; batch interval 0: %.0f samples/s; (v)/(v0) %.2f (%.2f from the process's start)\n",
			v.Batches.BatchInterval, v.Batches.SamplesPerSec, v.NoBatches.SamplesPerSec, v.BatchesOverNoBatches, v.BatchesOverNoBatchesFromStart)
	}
	if sp := rep.ScaleProcess; sp != nil {
		fmt.Fprintf(out, "\n(p) %d single-sample binary messages through the processor, batch interval %s:\n", sp.Large.Messages, sp.Large.BatchInterval)
		for _, t := range []*Throughput{sp.Small, sp.Large} {
			fmt.Fprintf(out, "    %s: %.0f samples/s, CPU %.1f µs/msg, %.1f changelog B/sample\n", t.What, t.SamplesPerSec, t.CPUMicros, t.ChangelogBytesPerSample)
		}
		broker := ""
		if s.Embedded {
			broker = " (embedded broker included)"
		}
		fmt.Fprintf(out, "    ratio %d/%d sensors: %.2f; RSS at the end of the first run at %d sensors %.0f MiB%s, Go heap %.0f MiB\n",
			sp.Sensors, smallSensors, sp.LargeOverSmall, sp.Sensors, sp.RSSMiB, broker, sp.HeapMiB)
		if len(sp.RoundsLargeOverSmall) > 1 {
			fmt.Fprintf(out, "    median of %d rounds; ratio of every round: %s; samples/s of every round: %d sensors %s, %d sensors %s\n",
				len(sp.RoundsLargeOverSmall), ratios(sp.RoundsLargeOverSmall), smallSensors, rates(sp.Small.Rounds), sp.Sensors, rates(sp.Large.Rounds))
		}
	}
	if sc := rep.Scale; sc != nil {
		fmt.Fprintf(out, "\n(s) serve over %d sensors (%d single-sample binary messages each; table filled in %.1fs, serve ready in %.1fs):\n",
			sc.Sensors, sc.SamplesPerSensor, sc.FillSeconds, sc.ReadySeconds)
		fmt.Fprintf(out, "    /v1/sensors page %.1f ms; all %d at limit=10000 %.2fs (slowest page %.1f ms); GET / %.1f ms; /metrics %.1f ms\n",
			sc.PageMs, sc.PagedSensors, sc.PageAllSeconds, sc.PageAllMaxMs, sc.DashboardMs, sc.MetricsMs)
		fmt.Fprintf(out, "    GET /v1/sensors/{id} over %d random IDs: p50 %.2f ms, p99 %.2f ms; serve RSS %.0f MiB\n",
			sc.Lookups, sc.LookupP50Ms, sc.LookupP99Ms, sc.ServeRSSMiB)
	}
	if rc := rep.Recovery; rc != nil {
		fmt.Fprintf(out, "\n(r) recovery of a table of %d sensors (%d bytes each, %.1f MB; filled in %.1fs):\n",
			rc.Sensors, rc.StateBytes, float64(rc.TableBytes)/1e6, rc.FillSeconds)
		fmt.Fprintf(out, "    processor: cold (empty --state-dir) %.2fs, warm (local state up to date) %.2fs\n", rc.ProcessorCold, rc.ProcessorWarm)
		fmt.Fprintf(out, "    view:      cold %.2fs, warm %.2fs\n", rc.ViewCold, rc.ViewWarm)
	}
	return nil
}

func (t *Throughput) roundsOrNil() []float64 {
	if t == nil {
		return nil
	}
	return t.Rounds
}

func rates(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, " ")
}

func ratios(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, " ")
}
