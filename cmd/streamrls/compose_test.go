package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/internal/testkit"
)

// TestComposeConfig validates docker-compose.yml with Debian's
// docker-compose (no Docker engine needed) and checks its shape: Kafka,
// three processors with a state volume each, a view, an emitter.
func TestComposeConfig(t *testing.T) {
	dc := testkit.Require(t, "docker-compose", "validates docker-compose.yml")
	compose := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(dc, append([]string{"-f", "../../docker-compose.yml"}, args...)...)
		cmd.Env = append(os.Environ(), "STREAMRLS_HTTP_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	compose("config", "-q")
	services := strings.Fields(compose("config", "--services"))
	volumes := strings.Fields(compose("config", "--volumes"))
	for _, s := range []string{"kafka", "processor-1", "processor-2", "processor-3", "view", "emitter", "prometheus", "alertmanager"} {
		if !slices.Contains(services, s) {
			t.Errorf("service %s missing (have %v)", s, services)
		}
	}
	for _, v := range []string{"kafka-data", "processor-1", "processor-2", "processor-3", "view"} {
		if !slices.Contains(volumes, v) {
			t.Errorf("volume %s missing (have %v)", v, volumes)
		}
	}
	full := compose("config")
	if !strings.Contains(full, "image: apache/kafka:") || !strings.Contains(full, "KAFKA_PROCESS_ROLES: broker,controller") {
		t.Errorf("kafka is not the official image in KRaft mode:\n%s", full)
	}
}

// TestDockerfileGoVersion: the build image's Go is the go.mod's.
func TestDockerfileGoVersion(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+)`).FindSubmatch(df)
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if from == nil || goVer == nil {
		t.Fatalf("no FROM golang:X.Y in Dockerfile (%v) or go X.Y in go.mod (%v)", from != nil, goVer != nil)
	}
	if string(from[1]) != string(goVer[1]) {
		t.Errorf("Dockerfile builds with golang:%s, go.mod wants go %s", from[1], goVer[1])
	}
}
