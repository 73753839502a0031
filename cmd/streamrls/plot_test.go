package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/schema"
)

func runCLI(t *testing.T, args ...string) error {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root.Execute()
}

// TestPlotCommand fetches a history from a server and writes it as PNG and
// SVG; the files decode and have the documented size.
func TestPlotCommand(t *testing.T) {
	h := schema.History{Sensor: "7", Group: "rls", Dim: 2, Samples: []uint64{1, 100, 200}, Updated: []int64{1, 2, 3}, Rejected: []uint64{0, 0, 0},
		ThetaStar: [][]float64{{1, 1}, {1, 1}, {-1, -1}},
		Models: []schema.ModelHistory{
			{Name: "mod1", Lambda: 1, Delta: 10, Theta: [][]float64{{0.5, 0.4}, {0.99, 1}, {0.5, 0.5}}, MSE: []float64{1, 0.1, 0.5}, RecentMSE: []float64{1, 0.01, 2}, PTrace: []float64{1, 1, 1}},
			{Name: "mod2", Lambda: 0.99, Delta: 1, Theta: [][]float64{{0.5, 0.4}, {1, 1}, {-0.9, -1}}, MSE: []float64{1, 0.1, 0.2}, RecentMSE: []float64{1, 0.01, 0.01}, PTrace: []float64{1, 1, 1}},
		}}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		if r.URL.Path != "/v1/groups/rls/sensors/7/history" {
			w.WriteHeader(404)
			_ = json.NewEncoder(w).Encode(schema.Error{Error: "no such sensor"})
			return
		}
		_ = json.NewEncoder(w).Encode(h)
	}))
	defer srv.Close()
	dir := t.TempDir()

	pngFile := filepath.Join(dir, "s7.png")
	if err := runCLI(t, "plot", "--url", srv.URL, "--group", "rls", "--sensor", "7", "--out", pngFile); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("%s: %v", pngFile, err)
	}
	// 9 in wide, 2.6 in per panel (two models and the MSE), at 110 dpi.
	if b := img.Bounds(); b.Dx() != 990 || b.Dy() != 858 {
		t.Errorf("PNG is %dx%d, want 990x858", b.Dx(), b.Dy())
	}

	svgFile := filepath.Join(dir, "s7.svg")
	if err := runCLI(t, "plot", "--url", srv.URL, "--group", "rls", "--sensor", "7", "--out", svgFile); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(svgFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Width   string `xml:"width,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.XMLName.Local != "svg" || doc.Width != "648pt" {
		t.Errorf("SVG: %v %+v", err, doc)
	}
	if !bytes.Contains(b, []byte("mod2 (λ=0.99, δ=1)")) {
		t.Error("SVG lacks the model's title")
	}

	err = runCLI(t, "plot", "--url", srv.URL, "--group", "rls", "--sensor", "8", "--out", svgFile)
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "no such sensor") {
		t.Errorf("unknown sensor: %v", err)
	}
	for _, args := range [][]string{
		{"plot", "--url", srv.URL, "--sensor", "7", "--out", filepath.Join(dir, "x.jpg")},
		{"plot", "--url", srv.URL, "--out", pngFile},
		{"emit", "--drift", "wobble:3"},
		{"emit", "--drift", "jump:0"},
		{"emit", "--outliers", "2:1"},
		{"emit", "--outliers", "0.1"},
		{"process", "--state-dir", dir, "--snapshot-interval", "-1s"},
		{"serve", "--state-dir", dir, "--theta-star", "1,x"},
		{"serve", "--state-dir", dir, "--history-points", "1"},
		{"serve", "--state-dir", dir, "--history-max-bytes", "0"},
		{"serve", "--state-dir", dir, "--history-max-bytes", "lots"},
		{"run", "--history-max-bytes", "-1MiB"},
	} {
		err := runCLI(t, args...)
		if exitCode(err) != 2 {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
	if len(asked) != 3 {
		t.Errorf("server asked %d times: %v", len(asked), asked)
	}
}
