// Package topology is the shape of the pipeline on Kafka: the names of the
// topics and group of a processor group, and its goka group graph. How
// clients reach Kafka is package kafkaconf.
package topology

import (
	"fmt"
	"strconv"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/internal/setting"
)

// Defaults of the names a user sees. The input topic is a flag so that the
// original notebook's "RLSTrain" topic can be consumed as it is.
const (
	DefaultInput      = "rls-samples"
	DefaultGroup      = "rls"
	DefaultPartitions = 8
)

// Names are the topics and group of one processor group.
type Names struct {
	Input      string // samples stream (key = sensor ID)
	Group      string // goka group; its table is Group+"-table"
	DeadLetter string // rejected messages; default Group+"-deadletter"
	Snapshots  string // periodic JSON snapshots of each sensor's models; default Group+"-snapshots"
	Scores     string // JSON scores of every sample (with --scores); default Group+"-scores"
	Events     string // JSON anomaly and drift events; default Group+"-events"
}

// WithDefaults fills empty names with the defaults.
func (n Names) WithDefaults() Names {
	if n.Input == "" {
		n.Input = DefaultInput
	}
	if n.Group == "" {
		n.Group = DefaultGroup
	}
	if n.DeadLetter == "" {
		n.DeadLetter = n.Group + deadletterSuffix
	}
	if n.Snapshots == "" {
		n.Snapshots = n.Group + snapshotsSuffix
	}
	if n.Scores == "" {
		n.Scores = n.Group + scoresSuffix
	}
	if n.Events == "" {
		n.Events = n.Group + eventsSuffix
	}
	return n
}

// MaxTopicBytes is the longest topic name Kafka accepts.
const MaxTopicBytes = 249

// What a group's default topics add to its name (WithDefaults).
const (
	deadletterSuffix = "-deadletter"
	snapshotsSuffix  = "-snapshots"
	scoresSuffix     = "-scores"
	eventsSuffix     = "-events"
)

// groupSuffixes are what a group's topics add to its name, its table's
// included; the longest bounds the group name.
var groupSuffixes = []string{string(goka.GroupTable("")), deadletterSuffix, snapshotsSuffix, scoresSuffix, eventsSuffix}

// MaxGroupBytes is the longest group name whose topics Kafka accepts.
var MaxGroupBytes = func() int {
	n := MaxTopicBytes
	for _, s := range groupSuffixes {
		n = min(n, MaxTopicBytes-len(s))
	}
	return n
}()

// topicRule is what Kafka accepts as a topic name, with n the longest.
func topicRule(n int) string {
	return fmt.Sprintf("1 to %d characters of a-z, A-Z, 0-9, '.', '_' and '-', not \".\" or \"..\" (Kafka's topic names)", n)
}

// legalTopic says whether Kafka accepts name, at most n bytes, as a topic.
func legalTopic(name string, n int) bool {
	if name == "" || len(name) > n || name == "." || name == ".." {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateTopic reports a topic name Kafka would refuse, as a
// *setting.Error of field, the field that holds it.
func ValidateTopic(field, name string) error {
	if !legalTopic(name, MaxTopicBytes) {
		return setting.Errorf("topology", field, strconv.Quote(name), "%s", topicRule(MaxTopicBytes))
	}
	return nil
}

// ValidateGroup reports a group name whose topics (GROUP-table and the
// others) Kafka would refuse. A legal name is also one flat directory name
// under a state directory.
func ValidateGroup(group string) error {
	if !legalTopic(group, MaxGroupBytes) {
		return setting.Errorf("topology", "Group", strconv.Quote(group), "%s", topicRule(MaxGroupBytes))
	}
	return nil
}

// Validate reports an empty, illegal or clashing name, as a *setting.Error
// naming its field where it is one field.
func (n Names) Validate() error {
	const pkg = "topology"
	if n.Input == "" {
		return setting.Errorf(pkg, "Input", `""`, "an input topic name")
	}
	if n.Group == "" {
		return setting.Errorf(pkg, "Group", `""`, "a group name")
	}
	if err := ValidateGroup(n.Group); err != nil {
		return err
	}
	for _, t := range []struct{ field, name string }{{"Input", n.Input}, {"DeadLetter", n.DeadLetter},
		{"Snapshots", n.Snapshots}, {"Scores", n.Scores}, {"Events", n.Events}} {
		if t.name != "" {
			if err := ValidateTopic(t.field, t.name); err != nil {
				return err
			}
		}
	}
	switch {
	case n.DeadLetter == n.Input:
		return setting.Errorf(pkg, "DeadLetter", strconv.Quote(n.DeadLetter), "a topic other than the input topic")
	case n.DeadLetter == n.Table():
		return setting.Errorf(pkg, "DeadLetter", strconv.Quote(n.DeadLetter), "a topic other than the group table")
	case n.Snapshots != "" && (n.Snapshots == n.Input || n.Snapshots == n.DeadLetter || n.Snapshots == n.Table()):
		return fmt.Errorf("snapshots topic %q is also the input, dead-letter or table topic", n.Snapshots)
	}
	return n.validateScores()
}

// validateScores reports a scores or events topic that is another topic
// of the group.
func (n Names) validateScores() error {
	others := []string{n.Input, n.DeadLetter, n.Table(), n.Snapshots}
	for _, t := range []struct{ what, name string }{{"scores", n.Scores}, {"events", n.Events}} {
		for _, o := range others {
			if t.name != "" && t.name == o {
				return fmt.Errorf("%s topic %q is also the input, dead-letter, snapshots or table topic", t.what, t.name)
			}
		}
	}
	if n.Scores != "" && n.Scores == n.Events {
		return fmt.Errorf("scores and events topics are both %q", n.Scores)
	}
	return nil
}

// Table is the compacted changelog topic of the group's state.
func (n Names) Table() string { return string(goka.GroupTable(goka.Group(n.Group))) }

// Graph declares the processor group: one input stream, the dead-letter,
// snapshot, scores and events outputs and the persisted per-sensor state. samples and state
// are the codecs of the input values and of the table values; out is the
// codec of the outputs (raw bytes).
func (n Names) Graph(samples, state, out goka.Codec, cb goka.ProcessCallback) *goka.GroupGraph {
	n = n.WithDefaults()
	return goka.DefineGroup(goka.Group(n.Group),
		goka.Input(goka.Stream(n.Input), samples, cb),
		goka.Output(goka.Stream(n.DeadLetter), out),
		goka.Output(goka.Stream(n.Snapshots), out),
		goka.Output(goka.Stream(n.Scores), out),
		goka.Output(goka.Stream(n.Events), out),
		goka.Persist(state),
	)
}
