package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/internal/testkit"
)

// readmeCommand is one command of a sh block of the README with the lines
// of "# …" output shown under it.
type readmeCommand struct {
	line string
	want []string
}

// readmeSection returns the commands of the sh blocks between the headings
// from and to of the README.
func readmeSection(t *testing.T, readme, from, to string) []readmeCommand {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n"+from+"\n")
	if !ok {
		t.Fatalf("README has no heading %q", from)
	}
	sec, _, ok := strings.Cut(rest, "\n"+to+"\n")
	if !ok {
		t.Fatalf("README has no heading %q after %q", to, from)
	}
	var cmds []readmeCommand
	for _, block := range strings.Split(sec, "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		cont := false
		for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
			switch {
			case cont:
				cmds[len(cmds)-1].line += " " + strings.TrimSpace(l)
			case strings.HasPrefix(l, "#"):
				cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, strings.TrimSpace(strings.TrimPrefix(l, "#")))
			default:
				cmds = append(cmds, readmeCommand{line: l})
			}
			cont = strings.HasSuffix(l, "\\")
			if cont {
				c := &cmds[len(cmds)-1]
				c.line = strings.TrimSuffix(c.line, "\\")
			}
		}
	}
	return cmds
}

// readmeShell runs the README's commands in a directory of its own, with the
// README's ports mapped to free ones.
type readmeShell struct {
	t     *testing.T
	dir   string
	ports map[string]string // README port → this run's
	env   []string
	bg    []*testkit.Proc
}

// expand is line as this run runs it: the binary in place of `go run`, the
// free ports in place of the README's. A `go build` has nothing to do.
func (sh *readmeShell) expand(line string) (string, bool) {
	if strings.HasPrefix(line, "go build ") {
		return "", false
	}
	line = strings.ReplaceAll(line, "go run ./cmd/streamrls", "./streamrls")
	for from, to := range sh.ports {
		line = strings.ReplaceAll(line, ":"+from, ":"+to)
	}
	return line, true
}

// envFor is the environment of line: the flags whose defaults name the
// README's ports point at this run's (serve's own address only for serve).
func (sh *readmeShell) envFor(line string) []string {
	env := append(os.Environ(), sh.env...)
	if strings.HasPrefix(line, "./streamrls serve") {
		env = append(env, "STREAMRLS_HTTP=127.0.0.1:"+sh.ports["8080"])
	}
	return env
}

// run runs one command: in the background (until stop) when it ends in &
// or is `run`, else to its end, checking what it printed against want.
func (sh *readmeShell) run(c readmeCommand) {
	t := sh.t
	line, ok := sh.expand(c.line)
	if !ok {
		return
	}
	t.Logf("$ %s", line)
	if bg := strings.TrimSuffix(strings.TrimSpace(line), "&"); bg != line || strings.HasPrefix(line, "./streamrls run ") {
		p, err := testkit.Launch("/bin/sh", line, sh.envFor(line), "-c", "cd "+sh.dir+" && exec "+bg)
		if err != nil {
			t.Fatal(err)
		}
		sh.bg = append(sh.bg, p)
		if strings.HasPrefix(line, "./streamrls run ") {
			sh.waitReady(p)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Dir, cmd.Env = sh.dir, sh.envFor(line)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", c.line, err, out)
	}
	t.Logf("%s", testkit.Tail(string(out), 6))
	for _, key := range shownKeys(c.want) {
		if !strings.Contains(string(out), key) {
			t.Errorf("%s: the README shows %s, the output has none:\n%s", c.line, key, out)
		}
	}
}

// shownKeys are the names in the output the README shows: JSON keys and
// key=value names.
func shownKeys(want []string) []string {
	return regexp.MustCompile(`"[a-z_]+":|\b[a-z_]+=`).FindAllString(strings.Join(want, "\n"), -1)
}

// waitReady waits, as the reader does while building the binary, until the
// pipeline of `run` serves sensors that have learned a little.
func (sh *readmeShell) waitReady(p *testkit.Proc) {
	url := "http://127.0.0.1:" + sh.ports["8080"] + "/v1/sensors/1"
	testkit.Eventually(sh.t, time.Minute, func() error {
		if p.Exited() {
			sh.t.Fatalf("run exited: %s", testkit.Tail(p.Output(), 20))
		}
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
}

// stop ends the background commands, as the reader does between the tour
// and the next section.
func (sh *readmeShell) stop() {
	for _, p := range sh.bg {
		if err, _ := p.Stop(10 * time.Second); err != nil && !p.Exited() {
			sh.t.Errorf("%s did not stop: %v", p.Name, err)
		}
	}
	sh.bg = nil
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestREADME runs the README's tour and then "Watching sensors" as written,
// one command after the other in a fresh directory, and checks that each
// prints the fields the README shows and that they write only under tour/.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline twice")
	}
	t.Parallel() // mostly waits on its processes; runs beside the other parallel tests
	requirePython(t, "numpy")
	testkit.Require(t, "curl", "the README queries the API with curl")
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	dir := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(dir, "streamrls")); err != nil {
		t.Fatal(err)
	}
	sh := &readmeShell{t: t, dir: dir, ports: map[string]string{"9092": freePort(t), "8080": freePort(t), "8081": freePort(t)}}
	sh.env = []string{"STREAMRLS_BROKERS=127.0.0.1:" + sh.ports["9092"], "STREAMRLS_URL=http://127.0.0.1:" + sh.ports["8080"]}
	defer sh.stop()

	for _, c := range readmeSection(t, readme, "## A five-minute tour", "## Watching sensors: scores, anomalies, drift") {
		sh.run(c)
	}
	sh.stop()
	for _, c := range readmeSection(t, readme, "## Watching sensors: scores, anomalies, drift", "## Micro-batches") {
		sh.run(c)
	}
	sh.stop()

	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "tour" && e.Name() != "streamrls" {
			t.Errorf("the README's commands wrote %s outside tour/", e.Name())
		}
	}
	gi, err := os.ReadFile("../.gitignore")
	if err != nil || !regexp.MustCompile(`(?m)^/?tour/$`).Match(gi) {
		t.Errorf(".gitignore does not ignore tour/ (%v)", err)
	}
}
