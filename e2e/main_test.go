package e2e

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/internal/testkit"
)

// binary is the streamrls command, built once for the package.
var binary string

// waitingParallel is -test.parallel unless set: the parallel tests here
// (zombie, dashboard, README, Python client, disk full, Alertmanager,
// Prometheus) spend most of their time waiting on subprocesses and clocks,
// so more of them than the machine's cores can run at once.
const waitingParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(max(waitingParallel, runtime.GOMAXPROCS(0)))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
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
