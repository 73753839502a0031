package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/internal/testkit"
)

// binary is the streamrls command, built once for the package.
var binary string

func TestMain(m *testing.M) {
	bin, cleanup, err := testkit.BuildBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// start runs `streamrls args...` until the test ends.
func start(t *testing.T, args ...string) *testkit.Proc {
	t.Helper()
	return startNamed(t, "streamrls "+strings.Join(args[:min(1, len(args))], ""), args...)
}

// startNamed is start with a name for the logs of a failed test.
func startNamed(t *testing.T, name string, args ...string) *testkit.Proc {
	t.Helper()
	return testkit.Start(t, binary, name, nil, args...)
}
