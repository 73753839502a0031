package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/streamrls/streamrls/schema"
)

// Helpers of the tests that talk to streamrls over HTTP: its API and its
// Prometheus /metrics.

// runCLI runs `streamrls args...` to completion and returns its output.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("streamrls %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// getJSON GETs url into out (when the answer is 200) and returns the status.
func getJSON(url string, out any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func postJSON(url string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}

// sensorAPI fetches GET /v1/sensors/{id}.
func sensorAPI(base, id string) (*schema.Sensor, int, error) {
	var s schema.Sensor
	code, err := getJSON(base+"/v1/sensors/"+escapeSegment(id), &s)
	if err != nil || code != http.StatusOK {
		return nil, code, err
	}
	return &s, code, nil
}

// escapeSegment escapes every byte but ASCII letters, digits, '-', '_' and
// '~', so that IDs like "a/b", ".." and "." stay one path segment.
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// scrape parses a /metrics page.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := tryScrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func tryScrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bufio.NewReader(resp.Body))
	if err != nil {
		return nil, fmt.Errorf("parse %s/metrics: %w", url, err)
	}
	return fams, nil
}

// metricIs scrapes url's metrics and says how the unlabelled series name
// differs from want, nil when it does not.
func metricIs(url, name string, want float64) error {
	fams, err := tryScrape(url)
	if err != nil {
		return err
	}
	if n, _ := value(fams, name); n != want {
		return fmt.Errorf("%s = %v, want %v", name, n, want)
	}
	return nil
}

// value returns the value of the first series of family name whose labels
// include labels (name, value pairs); for a histogram, its sample count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// series returns the labels of every series of a family.
func series(fams map[string]*dto.MetricFamily, name string) []map[string]string {
	var out []map[string]string
	if f := fams[name]; f != nil {
		for _, m := range f.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			out = append(out, ls)
		}
	}
	return out
}

// ownFamilies lists the streamrls_ metric families.
func ownFamilies(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for name := range fams {
		if strings.HasPrefix(name, "streamrls_") {
			out = append(out, name)
		}
	}
	return out
}
