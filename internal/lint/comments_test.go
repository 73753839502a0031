package lint

import (
	"go/parser"
	"go/token"
	"regexp"
	"strings"
	"testing"
)

// Measured figures in comments go stale as the code and the machines
// change; they belong in docs/performance.md, which says when and how
// each was measured. A comment may still state a limit or a unit of a
// specification ("at most 255 bytes", "default 5s", "RFC 3339").
var measured = []*regexp.Regexp{
	// A speed-up or slow-down in per cent: "12 % faster", "3% slower",
	// "cost 10–20% of its rate".
	regexp.MustCompile(`\d+(\.\d+)?(\s*[–-]\s*\d+(\.\d+)?)?\s*%\s*(faster|slower|quicker|cheaper|more\s+(throughput|cpu|time)|less\s+(cpu|time)|fewer\s+\w+|of\s+(its|the|their)\s+([\w-]+'s\s+)?(time|cpu|rate|throughput|speed))`),
	// A factor: "3× faster", "2x the time", "twice as slow", "about twice
	// franz-go's time", "a third of the processor's CPU".
	regexp.MustCompile(`(\d+(\.\d+)?\s*(×|x|times)|twice|thrice)\s+(as\s+(fast|slow|quick|much)|faster|slower|quicker|cheaper|the\s+(time|cpu|rate|throughput|speed)|[\w-]+'s\s+(time|cpu|rate|throughput|speed))`),
	regexp.MustCompile(`\b(a|one|two)\s+(half|third|quarter|fifth)s?\s+of\s+(the|its|their)\s+([\w-]+'s\s+)?(time|cpu|rate|throughput|speed)`),
	// A time something took: "takes 200 ms", "took about 3 s",
	// "~5 s on a 2-core machine", "rather than every 200 ms".
	regexp.MustCompile(`(takes?|took|taking|lasts?|lasted|costs?|spent|spends?)\s+(about\s+|roughly\s+|around\s+|under\s+|over\s+|~\s*)?\d+(\.\d+)?\s*(ns|µs|us|ms|s|sec|secs|seconds?|min|minutes?)\b`),
	regexp.MustCompile(`~\s*\d+(\.\d+)?\s*(ns|µs|us|ms|s|sec|seconds?|min|minutes?)\b`),
	regexp.MustCompile(`\d+(\.\d+)?\s*(ns|µs|us|ms|s|seconds?|minutes?)\s+on\s+(a|an|the|this|my|one)\s+[\w-]*\s*(machine|core|cpu|laptop|host|box)`),
	regexp.MustCompile(`(rather\s+than|instead\s+of|used\s+to\s+\w+|no\s+longer\s+\w+|was|were)\s+(every\s+|about\s+|~\s*)?\d+(\.\d+)?\s*(ns|µs|us|ms|s|seconds?|minutes?)\b`),
	// A size something came to: "50k bad messages were 12 MB of log".
	regexp.MustCompile(`(were|was|took|made|came\s+to)\s+(about\s+|~\s*)?\d+(\.\d+)?\s*(kb|mb|gb|kib|mib|gib)\b`),
	// A time per unit of work: "6.9 µs per message", "2 µs/batch".
	regexp.MustCompile(`\d+(\.\d+)?\s*(ns|µs|us)\s*(per\s+|/\s*)\w+`),
	// A rate: "100k samples/s", "418 000 messages per second".
	regexp.MustCompile(`\d[\d,.  ]*\s*[kKM]?\s*(samples|messages|msgs|records|writes|states|requests|ops|updates)\s*(/\s*s\b|per\s+second)`),
}

// measuredFigure returns the first phrase of text that quotes a measured
// figure, or "".
func measuredFigure(text string) string {
	text = strings.Join(strings.Fields(strings.ToLower(text)), " ")
	for _, re := range measured {
		if m := re.FindString(text); m != "" {
			return m
		}
	}
	return ""
}

func TestMeasuredFigure(t *testing.T) {
	for _, s := range []string{
		"one contiguous block costs fewer stalls (it made a processor at 100,000 sensors 12% faster)",
		"it runs 12 % faster",
		"this is 3× faster than sarama",
		"sarama took about twice franz-go's time and CPU per record",
		"which made processing at 100,000 sensors twice as slow as with every state cached",
		"a full scan takes 200 ms",
		"the fill took about 3 s",
		"it runs in ~5 s on a 2-core machine",
		"at the pace of catching-up batches rather than every 200 ms",
		"the state write costs 6.9 µs per message",
		"the processor handles 100k samples/s",
		"about 418 000 messages per second",
		"it used to flush every 50 ms",
		"a third took 2x the time",
		"done in 40 s on the shared machine",
		"a mutex-guarded stack cost the processor 10–20% of its rate on 2 cores",
		"a third of the processor's CPU",
		"(50k bad messages were 12 MB of log lines)",
	} {
		if measuredFigure(s) == "" {
			t.Errorf("no measured figure found in %q", s)
		}
	}
	for _, s := range []string{
		"an ID is at most 255 bytes",
		"timestamps are RFC 3339",
		"FlushInterval (default 5s) bounds the write-back",
		"the batch interval, 100 ms by default",
		"Rate is the steady emit rate of (d), samples/s. Default 10000.",
		"a value is at most 1 MiB",
		"samples per second over the run",
		"polls every millisecond",
		"a two-model bank of dimension 10 counts 2.4 kB",
		"half the interval more",
		"waits at most twice the session timeout",
		"the session timeout is at least 30s",
		"the p99 is read against the interval",
		"see docs/performance.md#micro-batches",
		"retries up to 3 times with a backoff of 250 ms",
		"50% of the batch",
		"open until they are read, up to half as long again",
		"a lookup per write would double the time a cold view takes",
		"a fresh one would copy their bytes about three times over",
	} {
		if m := measuredFigure(s); m != "" {
			t.Errorf("%q: %q taken for a measured figure", s, m)
		}
	}
}

// TestCommentsQuoteNoMeasurement fails on a comment in the module's
// non-test Go files that quotes a measured speed-up, time or rate.
func TestCommentsQuoteNoMeasurement(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	walkSources(t, root, func(string) bool { return false }, func(path, rel string) error {
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, g := range f.Comments {
			if m := measuredFigure(g.Text()); m != "" {
				t.Errorf("%s:%d: comment quotes a measured figure (%q); put it in docs/performance.md",
					rel, fset.Position(g.Pos()).Line, m)
			}
		}
		return nil
	})
}
