package topology_test

import (
	"strings"
	"testing"

	"github.com/streamrls/streamrls/topology"
)

func TestNames(t *testing.T) {
	n := topology.Names{Group: "g"}.WithDefaults()
	want := topology.Names{Input: "rls-samples", Group: "g", DeadLetter: "g-deadletter", Snapshots: "g-snapshots", Scores: "g-scores", Events: "g-events"}
	if n != want {
		t.Errorf("WithDefaults = %+v, want %+v", n, want)
	}
	if n.Table() != "g-table" { // goka's name of a group's table topic
		t.Errorf("Table = %q, want g-table", n.Table())
	}
	if err := n.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	long := topology.Names{Group: strings.Repeat("g", topology.MaxGroupBytes)}.WithDefaults()
	if err := long.Validate(); err != nil {
		t.Errorf("longest group: %v", err)
	}
	for _, c := range []struct {
		n    topology.Names
		want string
	}{
		{topology.Names{Group: "g"}, "Input"},
		{topology.Names{Input: "in"}, "Group"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "in"}, "other than the input topic"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "g-table"}, "other than the group table"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "dl", Snapshots: "dl"}, "snapshots topic"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "dl", Snapshots: "g-table"}, "snapshots topic"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "dl", Scores: "in"}, "scores topic"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "dl", Snapshots: "s", Events: "s"}, "events topic"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "dl", Events: "g-table"}, "events topic"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "dl", Scores: "x", Events: "x"}, "both"},
		{topology.Names{Input: "in", Group: "a/b"}, `Group "a/b": want 1 to 238 characters`},
		{topology.Names{Input: "in", Group: ".."}, `Group ".."`},
		{topology.Names{Input: "in", Group: strings.Repeat("g", 239)}, "Group"},
		{topology.Names{Input: "in put", Group: "g"}, `Input "in put"`},
		{topology.Names{Input: strings.Repeat("i", 250), Group: "g"}, "Input"},
		{topology.Names{Input: "in", Group: "g", DeadLetter: "d:l"}, `DeadLetter "d:l"`},
	} {
		if err := c.n.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error containing %q", c.n, err, c.want)
		}
	}
}
