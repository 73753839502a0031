package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// pyJob is the input of python/test_streamrls.py.
type pyJob struct {
	URL       string               `json:"url"`
	Token     string               `json:"token"`
	Group     string               `json:"group"`
	Bootstrap string               `json:"bootstrap"`
	Table     string               `json:"table"`
	Scores    string               `json:"scores"`
	Events    string               `json:"events"`
	X         map[string][]float64 `json:"x"`
	States    []pyStateIn          `json:"states"`
}

type pyStateIn struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
}

// pyState is a decode_state answer with every float as float.hex.
type pyState struct {
	Partition   int32     `json:"partition"`
	Offset      int64     `json:"offset"`
	Samples     uint64    `json:"samples"`
	Rejected    uint64    `json:"rejected"`
	UpdatedMs   int64     `json:"updated_ms"`
	Dim         int32     `json:"dim"`
	BankVersion int       `json:"bank_version"`
	Models      []pyModel `json:"models"`
	LagOrder    int       `json:"lag_order"`
	Lags        []string  `json:"lags"`
}

type pyModel struct {
	Name       string     `json:"name"`
	Lambda     string     `json:"lambda"`
	Delta      string     `json:"delta"`
	MaxTrace   string     `json:"max_trace"`
	Samples    uint64     `json:"samples"`
	MSE        string     `json:"mse"`
	RecentMSE  string     `json:"recent_mse"`
	Sigma2     string     `json:"sigma2"`
	Sigma2N    uint64     `json:"sigma2_n"`
	CusumPos   string     `json:"cusum_pos"`
	CusumNeg   string     `json:"cusum_neg"`
	CusumScale string     `json:"cusum_scale"`
	CusumN     uint64     `json:"cusum_n"`
	Anomalies  uint64     `json:"anomalies"`
	Drifts     uint64     `json:"drifts"`
	AScale     string     `json:"anomaly_scale"`
	ALevel     string     `json:"anomaly_level"`
	ATail      string     `json:"anomaly_tail"`
	Episodes   uint64     `json:"episodes"`
	EpOpen     uint64     `json:"episode_open"`
	EpPeak     string     `json:"episode_peak"`
	EpQuiet    uint64     `json:"episode_quiet"`
	SpreadN    uint64     `json:"spread_n"`
	SMean      string     `json:"spread_mean"`
	SVar       string     `json:"spread_var"`
	SShort     string     `json:"spread_short"`
	STail      string     `json:"spread_tail"`
	SSide      int8       `json:"spread_side"`
	Theta      []string   `json:"theta"`
	P          [][]string `json:"p"`
}

type pyError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// pyRecord is one record a topic reader of the script parsed.
type pyRecord[T any] struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Record    T      `json:"record"`
}

// pyAnswer is what python/test_streamrls.py prints.
type pyAnswer struct {
	Numpy         bool                          `json:"numpy"`
	Sensors       []string                      `json:"sensors"`
	SensorsPaged  []string                      `json:"sensors_paged"`
	GroupSensors  []string                      `json:"group_sensors"`
	FirstPage     schema.Sensors                `json:"first_page"`
	Sensor        map[string]schema.Sensor      `json:"sensor"`
	GroupSensor   map[string]schema.Sensor      `json:"group_sensor"`
	Predict       map[string]schema.Predictions `json:"predict"`
	History       map[string]schema.History     `json:"history"`
	HistoryShapes map[string][][2]int           `json:"history_shapes"`
	Events        map[string]schema.Events      `json:"events"`
	EventsLimited map[string]schema.Events      `json:"events_limited"`
	Groups        []string                      `json:"groups"`
	Health        map[string]any                `json:"health"`
	Ready         map[string]any                `json:"ready"`
	PlotSVG       string                        `json:"plot_svg"`
	OpenAPIPaths  []string                      `json:"openapi_paths"`
	MetricsLines  int                           `json:"metrics_lines"`
	Errors        map[string]*pyError           `json:"errors"`
	States        []struct {
		Name  string   `json:"name"`
		State *pyState `json:"state"`
		Error *struct {
			Codec, Reason string
		} `json:"error"`
	} `json:"states"`
	Table       []pyRecord[pyState]            `json:"table"`
	Scores      []pyRecord[schema.ScoreRecord] `json:"scores"`
	EventsTopic []pyRecord[schema.Event]       `json:"events_topic"`
}

// goAnswers is what the Go client and plain requests answer for the routes
// the script calls.
type goAnswers struct {
	Sensors      []string
	GroupSensors []string
	FirstPage    schema.Sensors
	Sensor       map[string]schema.Sensor
	GroupSensor  map[string]schema.Sensor
	Predict      map[string]schema.Predictions
	History      map[string]schema.History
	Events       map[string]schema.Events
	Limited      map[string]schema.Events
	Groups       []string
	Health       map[string]any
	Ready        map[string]any
}

// TestPythonClient runs python/streamrls.py with Debian's python3 against
// the real binary: `emit` with outliers and a drift, `process --scores`,
// `serve` with a token. Every route the client calls answers what the Go
// client (or a plain request) answers, errors carry the same status and
// message, decode_state gives bit for bit the θ and P the Go codec encoded
// (bank versions 1 to 4) and refuses broken states for Go's reasons, and
// the table, scores and events that kafka-python reads parse to what
// franz-go reads. It runs with numpy and again without, and the Python
// example of docs/api.md runs as written.
func TestPythonClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Parallel() // mostly waits on its processes; runs beside the other parallel tests
	requirePython(t, "numpy", "kafka")
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 4*time.Minute)
	const sensors, dim, perSensor, oddSamples = 5, 10, 600, 50
	runToEnd(t, 2*time.Minute, "emit", "--brokers", b.Addr(), "--sensors", strconv.Itoa(sensors),
		"--dim", strconv.Itoa(dim), "--count", strconv.Itoa(sensors*perSensor), "--rate", "0", "--seed", "8",
		"--outliers", "0.01:12", "--drift", "jump:300")
	// A sensor whose ID must be escaped as a path segment.
	const odd = "a/b c?%"
	rng := rand.New(rand.NewPCG(8, 8))
	var kv []string
	for range oddSamples {
		x := []float64{rng.NormFloat64(), rng.NormFloat64()}
		kv = append(kv, odd, string(codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: x, Y: 2*x[0] - x[1] + 0.01*rng.NormFloat64()}})))
	}
	emitRaw(t, kc, topology.DefaultInput, kv...)
	start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--scores", "--snapshot-every", "50")
	const token = "py-s3cret"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(),
		"--http", "127.0.0.1:0", "--http-token-file", tokenFile)
	url := serve.HTTPURL(t)
	names := topology.Names{}.WithDefaults()
	gc := &client.Client{BaseURL: url, Token: token}

	// Wait until the processor is done and serve shows all of it: every
	// sample, each sensor's last snapshot, every event of the topic.
	want := map[string]uint64{odd: oddSamples}
	for i := 1; i <= sensors; i++ {
		want[strconv.Itoa(i)] = perSensor
	}
	testkit.Eventually(t, 2*time.Minute, func() error {
		for id, n := range want {
			s, err := gc.Sensor(ctx, id)
			if err != nil || s.Samples != n {
				return fmt.Errorf("sensor %q: %v of %d samples (%v)", id, s, n, err)
			}
		}
		return nil
	})
	topicEvents := map[string]int{}
	for _, e := range events(t, readTopic(t, ctx, b.Addr(), names.Events)) {
		topicEvents[e.Sensor]++
	}
	if topicEvents["1"] == 0 {
		t.Fatalf("no events for sensor 1 (%v): the test needs some", topicEvents)
	}
	testkit.Eventually(t, time.Minute, func() error {
		var ready map[string]any
		if code, err := getAuthJSON(url+"/readyz", token, &ready); code != http.StatusOK {
			return fmt.Errorf("readyz %d %v: %v", code, err, ready)
		}
		for id, n := range want {
			h, err := gc.History(ctx, id)
			if err != nil || len(h.Samples) == 0 || h.Samples[len(h.Samples)-1] != n {
				return fmt.Errorf("history of %q not at %d samples (%v)", id, n, err)
			}
			e, err := gc.Events(ctx, id, 100)
			if err != nil || len(e.Events) != topicEvents[id] {
				return fmt.Errorf("sensor %q: %d events served, %d on the topic (%v)", id, len(e.Events), topicEvents[id], err)
			}
		}
		return nil
	})

	x := map[string][]float64{"1": make([]float64, dim), odd: {0.5, -2}}
	for j := range dim {
		x["1"][j] = float64(j) - 4.5
	}
	before := goRoutes(t, ctx, gc, url, token, x)
	states, banks := pyStates(t)
	job := pyJob{URL: url, Token: token, Group: names.Group, Bootstrap: b.Addr(), Table: names.Table(),
		Scores: names.Scores, Events: names.Events, X: x, States: states}
	jobFile := filepath.Join(t.TempDir(), "job.json")
	raw, _ := json.Marshal(job)
	if err := os.WriteFile(jobFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	table := readTopic(t, ctx, b.Addr(), names.Table())
	scores := readTopic(t, ctx, b.Addr(), names.Scores)
	evs := readTopic(t, ctx, b.Addr(), names.Events)

	for _, numpy := range []bool{true, false} {
		args := []string{filepath.Join("..", "python", "test_streamrls.py"), jobFile}
		if !numpy {
			args = append(args, "--no-numpy")
		}
		out, err := exec.CommandContext(ctx, python, args...).Output()
		if err != nil {
			t.Fatalf("test_streamrls.py (numpy %v): %v\n%s", numpy, err, stderrOf(err))
		}
		var py pyAnswer
		if err := json.Unmarshal(out, &py); err != nil {
			t.Fatalf("%v: %.300s", err, out)
		}
		if py.Numpy != numpy {
			t.Fatalf("the script ran with numpy %v, want %v", py.Numpy, numpy)
		}
		comparePyRoutes(t, &py, before, url, token)
		comparePyStates(t, &py, states, banks)
		comparePyTopics(t, &py, table, scores, evs)
	}
	if after := goRoutes(t, ctx, gc, url, token, x); !reflect.DeepEqual(after, before) {
		t.Fatal("the served state changed while the scripts ran: the comparisons are void")
	}
	runDocExample(t, ctx, url, token, b.Addr())
}

// getAuthJSON is getJSON with a bearer token; out is decoded whatever the
// status.
func getAuthJSON(url, token string, out any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// goRoutes asks every route the script asks, the Go way.
func goRoutes(t *testing.T, ctx context.Context, gc *client.Client, url, token string, x map[string][]float64) *goAnswers {
	t.Helper()
	g := &goAnswers{Sensor: map[string]schema.Sensor{}, GroupSensor: map[string]schema.Sensor{},
		Predict: map[string]schema.Predictions{}, History: map[string]schema.History{},
		Events: map[string]schema.Events{}, Limited: map[string]schema.Events{}}
	var err error
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Go client: %s: %v", what, err)
		}
	}
	g.Sensors, err = gc.Sensors(ctx)
	check("sensors", err)
	grp := &client.Client{BaseURL: url, Token: token, Group: topology.DefaultGroup}
	g.GroupSensors, err = grp.Sensors(ctx)
	check("group sensors", err)
	code, err := getAuthJSON(url+"/v1/sensors?limit=2", token, &g.FirstPage)
	check(fmt.Sprintf("first page (%d)", code), err)
	for _, id := range g.Sensors {
		s, err := gc.Sensor(ctx, id)
		check("sensor "+id, err)
		g.Sensor[id] = *s
		s, err = grp.Sensor(ctx, id)
		check("group sensor "+id, err)
		g.GroupSensor[id] = *s
		h, err := gc.History(ctx, id)
		check("history "+id, err)
		g.History[id] = *h
		e, err := gc.Events(ctx, id, 0)
		check("events "+id, err)
		g.Events[id] = *e
		e, err = grp.Events(ctx, id, 2)
		check("group events "+id, err)
		g.Limited[id] = *e
	}
	for id, xs := range x {
		p, err := gc.Predict(ctx, id, xs)
		check("predict "+id, err)
		g.Predict[id] = *p
	}
	var groups struct{ Groups []string }
	_, err = getAuthJSON(url+"/v1/groups", token, &groups)
	check("groups", err)
	g.Groups = groups.Groups
	_, err = getAuthJSON(url+"/healthz", token, &g.Health)
	check("healthz", err)
	_, err = getAuthJSON(url+"/readyz", token, &g.Ready)
	check("readyz", err)
	return g
}

// comparePyRoutes checks the script's HTTP answers against Go's.
func comparePyRoutes(t *testing.T, py *pyAnswer, g *goAnswers, url, token string) {
	t.Helper()
	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			t.Errorf("numpy %v: %s: Python\n%.600s\nGo\n%.600s", py.Numpy, what, gj, wj)
		}
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"sensors", py.Sensors, g.Sensors},
		{"sensors, 2 a page", py.SensorsPaged, g.Sensors},
		{"group's sensors, 3 a page", py.GroupSensors, g.GroupSensors},
		{"first page", py.FirstPage, g.FirstPage},
		{"sensor", py.Sensor, g.Sensor},
		{"group's sensor", py.GroupSensor, g.GroupSensor},
		{"predict", py.Predict, g.Predict},
		{"history", py.History, g.History},
		{"events", py.Events, g.Events},
		{"events, limit 2", py.EventsLimited, g.Limited},
		{"groups", py.Groups, g.Groups},
		{"healthz", py.Health, g.Health},
		{"readyz", py.Ready, g.Ready},
	} {
		same(c.what, c.got, c.want)
	}
	if g.FirstPage.Next == "" || len(g.Sensors) < 5 {
		t.Errorf("%d sensors, first page %+v: the paging is not exercised", len(g.Sensors), g.FirstPage)
	}
	if py.Numpy {
		for id, h := range g.History {
			for k, m := range h.Models {
				if sh := py.HistoryShapes[id]; len(sh) != len(h.Models) || sh[k] != [2]int{len(m.Theta), h.Dim} {
					t.Errorf("history of %q: numpy θ shapes %v, want %d × %d", id, sh, len(m.Theta), h.Dim)
				}
			}
		}
	}
	if !strings.Contains(py.PlotSVG, "<svg") {
		t.Errorf("plot.svg starts %q", py.PlotSVG)
	}
	if !slices.Contains(py.OpenAPIPaths, "/v1/sensors/{id}/predict") || py.MetricsLines == 0 {
		t.Errorf("openapi paths %q, %d streamrls_ metric lines", py.OpenAPIPaths, py.MetricsLines)
	}
	// Errors: the status and message of the same request made from Go.
	first := g.Sensors[0]
	esc := escapeSegment(first)
	bad, _ := json.Marshal(schema.PredictRequest{X: make([]float64, 99)})
	for name, req := range map[string]struct {
		method, path, token string
		body                []byte
	}{
		"unknown_sensor": {"GET", "/v1/sensors/no-such-sensor", token, nil},
		"unknown_events": {"GET", "/v1/sensors/no-such-sensor/events", token, nil},
		"wrong_token":    {"GET", "/v1/sensors/" + esc, "wrong", nil},
		"bad_predict":    {"POST", "/v1/sensors/" + esc + "/predict", token, bad},
		"unknown_group":  {"GET", "/v1/groups/no-such-group/sensors", token, nil},
	} {
		r, _ := http.NewRequest(req.method, url+req.path, bytes.NewReader(req.body))
		r.Header.Set("Authorization", "Bearer "+req.token)
		if req.body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e schema.Error
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode < 400 {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
		if got := py.Errors[name]; got == nil || *got != (pyError{resp.StatusCode, e.Error}) {
			t.Errorf("numpy %v: %s: APIError %+v, Go got %d %q", py.Numpy, name, got, resp.StatusCode, e.Error)
		}
	}
}

// pyStates are the states Go encodes for decode_state: banks of versions 1
// and 2, a stub without a bank, and broken values. banks holds each valid
// one's envelope and bank (nil: none) by name.
func pyStates(t *testing.T) ([]pyStateIn, map[string]*goState) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	learned := func(dim, samples int) *rls.Bank {
		specs := append(rls.DefaultSpecs(), rls.Spec{Name: "fast-λ", Lambda: 0.9, Delta: 0.5})
		b := rls.NewBank(specs, dim)
		b.Models[2].MaxTrace = math.Inf(1)
		x := make([]float64, dim)
		for range samples {
			y := 0.0
			for j := range x {
				x[j] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))
				y += float64(j+1) * x[j]
			}
			if err := b.Update(x, y+0.1*rng.NormFloat64()); err != nil {
				t.Fatal(err)
			}
		}
		m := b.Models[1]
		m.Anomalies, m.Drifts = 7, 3
		m.Detector = rls.Detector{Pos: 1.5, Neg: 0.25, Scale: 3, N: 77}
		m.Watch.Episodes, m.Watch.Open, m.Watch.Peak, m.Watch.Quiet, m.Watch.Tail = 5, 2, 9.5, 1, 1.75
		return b
	}
	meta := func(dim int, samples uint64) codec.Meta {
		return codec.Meta{Partition: 5, Offset: int64(samples) + 1000, Samples: samples, Rejected: 2,
			Updated: 1795551842191, Dim: int32(dim)}
	}
	banks := map[string]*goState{}
	var out []pyStateIn
	addLags := func(name string, m codec.Meta, l codec.Lags, payload []byte, b *rls.Bank, version int) {
		out = append(out, pyStateIn{name, hex.EncodeToString(codec.AppendEnvelopeLags(nil, m, l, payload))})
		banks[name] = &goState{m, b, version, l}
	}
	add := func(name string, m codec.Meta, payload []byte, b *rls.Bank, version int) {
		addLags(name, m, codec.Lags{}, payload, b, version)
	}
	for _, dim := range []int{1, 4, 10} {
		b := learned(dim, 300)
		add(fmt.Sprintf("v4-dim%d", dim), meta(dim, 300), codec.AppendBank(nil, b), b, 4)
		v3 := b.Clone()
		for _, m := range v3.Models {
			w := &m.Watch
			w.SpreadN, w.SpreadMean, w.SpreadVar, w.SpreadShort, w.SpreadTail, w.SpreadSide = 0, 0, 0, 0, 0, 0
		}
		add(fmt.Sprintf("v3-dim%d", dim), meta(dim, 300), codec.AppendBankV3(nil, b), v3, 3)
		v2 := b.Clone()
		for _, m := range v2.Models {
			m.Watch = rls.Watch{}
		}
		add(fmt.Sprintf("v2-dim%d", dim), meta(dim, 300), codec.AppendBankV2(nil, b), v2, 2)
		v1 := v2.Clone()
		for _, m := range v1.Models {
			m.Sigma2, m.Sigma2N, m.Detector, m.Anomalies, m.Drifts = 0, 0, rls.Detector{}, 0, 0
		}
		add(fmt.Sprintf("v1-dim%d", dim), meta(dim, 300), codec.AppendBankV1(nil, b), v1, 1)
	}
	// The version-1 value the version-1 code wrote (codec's fuzz corpus).
	seed := fuzzBytes(t, filepath.Join("..", "codec", "testdata", "fuzz", "FuzzDecodeBank", "valid-default-2"))
	old, err := codec.DecodeBank(seed)
	if err != nil || seed[1] != 1 {
		t.Fatalf("corpus seed: version %d, %v", seed[1], err)
	}
	add("v1-corpus", meta(2, 0), seed, old, 1)
	fresh := rls.NewBank(rls.DefaultSpecs(), 3)
	add("v4-fresh", meta(3, 0), codec.AppendBank(nil, fresh), fresh, 4)
	add("stub", codec.Meta{Offset: -1}, nil, nil, 0)
	// Autoregressive sensors (envelope version 2): lags full and filling.
	ar := learned(5, 200)
	addLags("lags-v4-dim5", meta(5, 200), codec.Lags{Order: 4, Values: []float64{1.5, -0.25, 3e-300, 7e300}}, codec.AppendBank(nil, ar), ar, 4)
	arFill := rls.NewBank(rls.DefaultSpecs(), 3)
	addLags("lags-filling", meta(3, 0), codec.Lags{Order: 2, Values: []float64{0.5}}, codec.AppendBank(nil, arFill), arFill, 4)
	withLags := codec.AppendEnvelopeLags(nil, meta(5, 300), codec.Lags{Order: 4, Values: []float64{1, 2}}, codec.AppendBank(nil, learned(5, 50)))

	// Broken values: decode_state refuses each for the reason Go gives.
	good := codec.AppendEnvelope(nil, meta(4, 300), codec.AppendBank(nil, learned(4, 50)))
	badSide := learned(4, 50)
	badSide.Models[0].Watch.SpreadSide = 2
	broken := map[string][]byte{
		"broken-empty":         {},
		"broken-magic":         append([]byte{0x00}, good[1:]...),
		"broken-version":       append([]byte{codec.EnvelopeMagic, 3}, good[2:]...),
		"broken-lag-order":     append(append(append([]byte{}, withLags[:42]...), 0, 0, 0, 0), withLags[46:]...),
		"broken-lags-held":     append(append(append([]byte{}, withLags[:46]...), 5, 0, 0, 0), withLags[50:]...),
		"broken-lags-truncate": withLags[:55],
		"broken-short-header":  good[:30],
		"broken-bank-magic":    append(append([]byte{}, good[:42]...), append([]byte{0xBB}, good[43:]...)...),
		"broken-bank-version":  append(append([]byte{}, good[:43]...), append([]byte{codec.BankVersion + 1}, good[44:]...)...),
		"broken-bank-truncate": good[:len(good)-1],
		"broken-bank-trailing": append(append([]byte{}, good...), 0),
		"broken-spread-side":   codec.AppendEnvelope(nil, meta(4, 300), codec.AppendBank(nil, badSide)),
	}
	for name, v := range broken {
		out = append(out, pyStateIn{name, hex.EncodeToString(v)})
	}
	return out, banks
}

// fuzzBytes reads a fuzz corpus file holding one []byte value.
func fuzzBytes(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// goState is a state as Go encoded it.
type goState struct {
	meta    codec.Meta
	bank    *rls.Bank
	version int
	lags    codec.Lags
}

// goDecode decodes a table value as the processor does.
func goDecode(v []byte) (*goState, error) {
	m, l, payload, err := codec.SplitEnvelopeLags(v)
	if err != nil {
		return nil, err
	}
	if len(payload) == 0 {
		return &goState{m, nil, 0, l}, nil
	}
	b, err := codec.DecodeBank(payload)
	if err != nil {
		return nil, err
	}
	return &goState{m, b, int(payload[1]), l}, nil
}

// samePyState says how a decode_state answer differs from a Go state, bit
// for bit ("" when it does not).
func samePyState(py *pyState, g *goState) string {
	m := g.meta
	if py.Partition != m.Partition || py.Offset != m.Offset || py.Samples != m.Samples || py.Rejected != m.Rejected ||
		py.UpdatedMs != m.Updated || py.Dim != m.Dim || py.BankVersion != g.version {
		return fmt.Sprintf("envelope %+v, want %+v (bank version %d)", *py, m, g.version)
	}
	if py.LagOrder != g.lags.Order || len(py.Lags) != len(g.lags.Values) {
		return fmt.Sprintf("lags %d of order %d, want %v", len(py.Lags), py.LagOrder, g.lags)
	}
	for i, s := range py.Lags {
		if v, err := strconv.ParseFloat(s, 64); err != nil || math.Float64bits(v) != math.Float64bits(g.lags.Values[i]) {
			return fmt.Sprintf("lag %d is %s, want %v", i, s, g.lags.Values[i])
		}
	}
	if g.bank == nil {
		if len(py.Models) != 0 {
			return fmt.Sprintf("%d models, want none", len(py.Models))
		}
		return ""
	}
	if len(py.Models) != len(g.bank.Models) {
		return fmt.Sprintf("%d models, want %d", len(py.Models), len(g.bank.Models))
	}
	bits := func(s string) (uint64, bool) {
		v, err := strconv.ParseFloat(s, 64)
		return math.Float64bits(v), err == nil
	}
	n := g.bank.Dim
	for i, w := range g.bank.Models {
		p := py.Models[i]
		floats := []struct {
			name string
			got  string
			want float64
		}{{"lambda", p.Lambda, w.Lambda}, {"delta", p.Delta, w.Delta}, {"max_trace", p.MaxTrace, w.MaxTrace},
			{"mse", p.MSE, w.MSE}, {"recent_mse", p.RecentMSE, w.RecentMSE}, {"sigma2", p.Sigma2, w.Sigma2},
			{"cusum_pos", p.CusumPos, w.Detector.Pos}, {"cusum_neg", p.CusumNeg, w.Detector.Neg},
			{"cusum_scale", p.CusumScale, w.Detector.Scale}, {"anomaly_scale", p.AScale, w.Watch.Scale},
			{"anomaly_level", p.ALevel, w.Watch.Level}, {"anomaly_tail", p.ATail, w.Watch.Tail},
			{"episode_peak", p.EpPeak, w.Watch.Peak}, {"spread_mean", p.SMean, w.Watch.SpreadMean},
			{"spread_var", p.SVar, w.Watch.SpreadVar}, {"spread_short", p.SShort, w.Watch.SpreadShort},
			{"spread_tail", p.STail, w.Watch.SpreadTail}}
		if len(p.Theta) != n || len(p.P) != n {
			return fmt.Sprintf("model %s: %d coefficients, P of %d rows; want %d", w.Name, len(p.Theta), len(p.P), n)
		}
		for j := range n {
			floats = append(floats, struct {
				name string
				got  string
				want float64
			}{fmt.Sprintf("theta[%d]", j), p.Theta[j], w.Theta[j]})
			if len(p.P[j]) != n {
				return fmt.Sprintf("model %s: P row %d has %d entries", w.Name, j, len(p.P[j]))
			}
			for k := range n {
				floats = append(floats, struct {
					name string
					got  string
					want float64
				}{fmt.Sprintf("P[%d][%d]", j, k), p.P[j][k], w.P[j*n+k]})
			}
		}
		for _, f := range floats {
			if b, ok := bits(f.got); !ok || b != math.Float64bits(f.want) {
				return fmt.Sprintf("model %s: %s = %s, want %x (%v)", w.Name, f.name, f.got, f.want, f.want)
			}
		}
		if p.Name != w.Name || p.Samples != w.Samples || p.Sigma2N != w.Sigma2N || p.CusumN != w.Detector.N ||
			p.Anomalies != w.Anomalies || p.Drifts != w.Drifts || p.Episodes != w.Watch.Episodes ||
			p.EpOpen != w.Watch.Open || p.EpQuiet != w.Watch.Quiet || p.SpreadN != w.Watch.SpreadN || p.SSide != w.Watch.SpreadSide {
			return fmt.Sprintf("model %d: %+v, want %+v", i, p, *w)
		}
	}
	return ""
}

// comparePyStates checks decode_state on the states Go encoded.
func comparePyStates(t *testing.T, py *pyAnswer, in []pyStateIn, banks map[string]*goState) {
	t.Helper()
	if len(py.States) != len(in) {
		t.Fatalf("decode_state answered %d of %d states", len(py.States), len(in))
	}
	for i, s := range py.States {
		if s.Name != in[i].Name {
			t.Fatalf("state %d is %q, want %q", i, s.Name, in[i].Name)
		}
		raw, _ := hex.DecodeString(in[i].Hex)
		if g, ok := banks[s.Name]; ok {
			if s.State == nil {
				t.Errorf("numpy %v: %s: decode_state failed: %+v", py.Numpy, s.Name, s.Error)
			} else if d := samePyState(s.State, g); d != "" {
				t.Errorf("numpy %v: %s: %s", py.Numpy, s.Name, d)
			}
			continue
		}
		_, err := goDecode(raw)
		var se *codec.StateError
		if !errors.As(err, &se) {
			t.Fatalf("%s: Go decodes it: %v", s.Name, err)
		}
		if s.Error == nil || s.Error.Codec != se.Codec || s.Error.Reason != se.Reason {
			t.Errorf("numpy %v: %s: decode_state error %+v, Go %s/%s", py.Numpy, s.Name, s.Error, se.Codec, se.Reason)
		}
	}
}

// comparePyTopics checks what kafka-python read and the readers parsed
// against what franz-go read and Go decodes, record by record.
func comparePyTopics(t *testing.T, py *pyAnswer, table, scores, evs []*kgo.Record) {
	t.Helper()
	type at struct {
		p int32
		o int64
	}
	index := func(recs []*kgo.Record) map[at]*kgo.Record {
		m := map[at]*kgo.Record{}
		for _, r := range recs {
			m[at{r.Partition, r.Offset}] = r
		}
		return m
	}
	if len(py.Table) != len(table) || len(py.Scores) != len(scores) || len(py.EventsTopic) != len(evs) {
		t.Fatalf("kafka-python read %d table, %d score, %d event records; franz-go %d, %d, %d",
			len(py.Table), len(py.Scores), len(py.EventsTopic), len(table), len(scores), len(evs))
	}
	tab := index(table)
	for _, p := range py.Table {
		r := tab[at{p.Partition, p.Offset}]
		if r == nil || string(r.Key) != p.Key {
			t.Fatalf("table record %d/%d: key %q not read by franz-go", p.Partition, p.Offset, p.Key)
		}
		g, err := goDecode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if d := samePyState(&p.Record, g); d != "" {
			t.Errorf("numpy %v: table record %d/%d (%s): %s", py.Numpy, p.Partition, p.Offset, p.Key, d)
		}
	}
	sc := index(scores)
	for _, p := range py.Scores {
		r := sc[at{p.Partition, p.Offset}]
		var w schema.ScoreRecord
		if r == nil || json.Unmarshal(r.Value, &w) != nil || !reflect.DeepEqual(p.Record, w) || string(r.Key) != p.Key {
			t.Fatalf("score record %d/%d: read_score_record %+v, Go %+v", p.Partition, p.Offset, p.Record, w)
		}
	}
	ev := index(evs)
	kinds := map[string]int{}
	for _, p := range py.EventsTopic {
		r := ev[at{p.Partition, p.Offset}]
		var w schema.Event
		if r == nil || json.Unmarshal(r.Value, &w) != nil || !reflect.DeepEqual(p.Record, w) || string(r.Key) != p.Key {
			t.Fatalf("event %d/%d: read_event %+v, Go %+v", p.Partition, p.Offset, p.Record, w)
		}
		kinds[w.Kind]++
	}
	if kinds[schema.EventAnomaly] == 0 || kinds[schema.EventDrift] == 0 {
		t.Errorf("events %v: the test needs anomalies and drifts", kinds)
	}
	t.Logf("numpy %v: %d table, %d score and %d event records parsed alike (%v)", py.Numpy, len(py.Table), len(py.Scores), len(py.EventsTopic), kinds)
}

// runDocExample runs the Python example of docs/api.md's "Python client"
// section from the repository's root, with its address, broker and token
// replaced by the test's.
func runDocExample(t *testing.T, ctx context.Context, url, token, bootstrap string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Python client\n.*?```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no Python example under \"## Python client\"")
	}
	src := strings.NewReplacer("http://127.0.0.1:8080", url, "127.0.0.1:9092", bootstrap).Replace(string(m[1]))
	cmd := exec.CommandContext(ctx, python, "-c", src)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "STREAMRLS_HTTP_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the example of docs/api.md: %v\n%s", err, out)
	}
	t.Logf("the example of docs/api.md printed:\n%s", testkit.Tail(string(out), 12))
}
