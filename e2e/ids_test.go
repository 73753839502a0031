package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/net/html"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// walkIDs are valid sensor IDs that a URL, HTML, SVG or JSON must escape
// (or must not escape twice).
var walkIDs = []string{
	"1", "ünï", "a b", "50%", "#tag", "what?", "a/b", "日本語", "emoji😀", "x&y<z>", `quote"d`, "+plus",
	"a%2Fb", "...", ".hidden", " lead", "trail ", "a;b,c=d", `back\slash`, "~tilde", "'single'",
	"<script>alert(1)</script>", "line\u2028sep", "zero\u200bwidth", "ﬀ", "e\u0301",
	strings.Repeat("%é/", processor.MaxKeyBytes/4), // 256 bytes
}

// TestOddSensorIDsEverywhere walks sensor IDs with Unicode, spaces, %, #, ?,
// /, markup and the longest allowed, through a real `process` and `serve`:
// every JSON route, the Go client, the dashboard and sensor pages and every
// link on them, plot.svg, paging, /readyz and /healthz answer 200 with a
// well-formed body in which the ID round-trips exactly.
func TestOddSensorIDsEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 3); err != nil {
		t.Fatal(err)
	}
	for _, id := range walkIDs {
		if len(id) > processor.MaxKeyBytes {
			t.Fatalf("test ID %q is %d bytes", id, len(id))
		}
	}
	const perSensor = 30 // --snapshot-every 10: three points of history each
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(names.Input))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range perSensor {
		for _, id := range walkIDs {
			x := []float64{float64(i%7) - 3, float64(i%5) + 1}
			v := codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: x, Y: 2*x[0] - x[1]}})
			recs = append(recs, &kgo.Record{Key: []byte(id), Value: v})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A forged snapshot on every partition before the real ones: keyed
	// "1", it names sensor "ghost", which must get no history from it.
	forged, err := json.Marshal(map[string]any{"sensor": "ghost", "group": names.Group, "samples": 999, "dim": 2,
		"models": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		r := &kgo.Record{Topic: names.Snapshots, Partition: p, Key: []byte("1"), Value: forged}
		if err := snapProducer(t, b.Addr()).ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("forged snapshot on partition %d: %v", p, err)
		}
	}

	start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--snapshot-every", "10")
	serve := startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	base := serve.HTTPURL(t)
	c := &client.Client{BaseURL: base}

	// Every sensor has all its samples and its whole history.
	testkit.Eventually(t, 90*time.Second, func() error {
		for _, id := range walkIDs {
			s, err := c.Sensor(ctx, id)
			if err != nil {
				return err
			}
			if s.Samples != perSensor {
				return fmt.Errorf("sensor %q: %d samples, want %d", id, s.Samples, perSensor)
			}
			h, err := c.History(ctx, id)
			if err != nil {
				return err
			}
			if n := len(h.Samples); n == 0 || h.Samples[n-1] != perSensor {
				return fmt.Errorf("sensor %q: history at %v, want up to %d", id, h.Samples, perSensor)
			}
		}
		return nil
	})

	if code, err := getJSON(base+"/v1/sensors/ghost/history", nil); err != nil || code != http.StatusNotFound {
		t.Errorf("history of the forged snapshot's sensor: %d %v, want 404", code, err)
	}
	for _, id := range walkIDs {
		seg := url.PathEscape(id)
		// JSON, by hand and through the client.
		var s schema.Sensor
		getBody(t, base+"/v1/sensors/"+seg, "application/json", &s)
		if s.Sensor != id || s.Dim != 2 || s.Samples != perSensor {
			t.Errorf("GET /v1/sensors/%s: sensor %q dim %d samples %d, want %q 2 %d", seg, s.Sensor, s.Dim, s.Samples, id, perSensor)
		}
		var grp schema.Sensor
		getBody(t, base+"/v1/groups/"+url.PathEscape(names.Group)+"/sensors/"+seg, "application/json", &grp)
		if grp.Sensor != id {
			t.Errorf("group route: sensor %q, want %q", grp.Sensor, id)
		}
		var p schema.Predictions
		postBody(t, base+"/v1/sensors/"+seg+"/predict", `{"x":[1,2]}`, &p)
		if p.Sensor != id || len(p.Predictions) == 0 {
			t.Errorf("predict %q: %+v", id, p)
		}
		cp, err := c.Predict(ctx, id, []float64{1, 2})
		if err != nil || cp.Sensor != id || len(cp.Predictions) != len(p.Predictions) {
			t.Errorf("client.Predict(%q) = %+v, %v", id, cp, err)
		}
		var h schema.History
		getBody(t, base+"/v1/sensors/"+seg+"/history", "application/json", &h)
		if n := len(h.Samples); h.Sensor != id || n < perSensor/10 || h.Samples[n-1] != perSensor {
			t.Errorf("history of %q: sensor %q, samples %v", id, h.Sensor, h.Samples)
		}

		// plot.svg: XML that a strict decoder reads to its end, titled with the ID.
		svg := getBody(t, base+"/v1/sensors/"+seg+"/plot.svg", "image/svg+xml", nil)
		if text, err := xmlText(svg); err != nil {
			t.Errorf("plot.svg of %q is not well-formed XML: %v", id, err)
		} else if !strings.Contains(text, "sensor "+id+" ") {
			t.Errorf("plot.svg of %q: its text does not name the sensor", id)
		}

		// The sensor page: HTML whose heading is the ID, whose inline SVG
		// is well-formed, and whose every link answers 200.
		page := base + "/sensors/" + seg
		doc := getHTML(t, page)
		if h1 := textOf(find(doc, "h1")); !strings.HasPrefix(h1, "sensor "+id+" ") {
			t.Errorf("sensor page of %q: heading %q", id, h1)
		}
		if tt := textOf(find(doc, "title")); tt != "streamrls — sensor "+id {
			t.Errorf("sensor page of %q: title %q", id, tt)
		}
		if find(doc, "svg") == nil {
			t.Errorf("sensor page of %q: no inline plot", id)
		}
		followLinks(t, page, doc, id)
	}

	// Paging: limit=3, following next, gives every ID once, in order, and ends.
	var listed []string
	after := ""
	for i := 0; ; i++ {
		if i > len(walkIDs)+2 {
			t.Fatalf("paging did not end after %d pages: %q", i, listed)
		}
		var page schema.Sensors
		getBody(t, base+"/v1/sensors?limit=3&after="+url.QueryEscape(after), "application/json", &page)
		listed = append(listed, page.Sensors...)
		if page.Next == "" {
			break
		}
		if page.Next <= after {
			t.Fatalf("next %q does not advance past %q", page.Next, after)
		}
		after = page.Next
	}
	want := slices.Sorted(slices.Values(walkIDs))
	if !slices.Equal(listed, want) {
		t.Errorf("paged list:\n%q\nwant\n%q", listed, want)
	}
	if all, err := c.Sensors(ctx); err != nil || !slices.Equal(all, want) {
		t.Errorf("client.Sensors = %q, %v; want %q", all, err, want)
	}

	// The dashboard, a page of 3 at a time through its own next links: every
	// row links to its sensor's page.
	var rows []string
	next := base + "/?limit=3"
	for i := 0; next != ""; i++ {
		if i > len(walkIDs)+2 {
			t.Fatalf("dashboard paging did not end: %q", rows)
		}
		doc := getHTML(t, next)
		for _, a := range findAll(doc, "a") {
			href := attr(a, "href")
			if strings.HasPrefix(href, "/sensors/") {
				rows = append(rows, textOf(a))
				u := resolve(t, next, href)
				if got := textOf(find(getHTML(t, u), "title")); got != "streamrls — sensor "+textOf(a) {
					t.Errorf("dashboard row %q links to %s, titled %q", textOf(a), u, got)
				}
			}
		}
		next = ""
		for _, a := range findAll(doc, "a") {
			if strings.Contains(textOf(a), "next sensors") {
				next = resolve(t, base+"/", attr(a, "href"))
			}
		}
	}
	if !slices.Equal(rows, want) {
		t.Errorf("dashboard rows:\n%q\nwant\n%q", rows, want)
	}

	var ready struct {
		Ready bool `json:"ready"`
	}
	getBody(t, base+"/readyz", "application/json", &ready)
	if !ready.Ready {
		t.Error("/readyz: not ready")
	}
	var health map[string]string
	getBody(t, base+"/healthz", "application/json", &health)
	if health["status"] != "ok" {
		t.Errorf("/healthz: %v", health)
	}
}

// snapProducer is a producer that writes to the partition each record names.
func snapProducer(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// getBody GETs u, wants 200 and the media type, and decodes JSON into out
// (strictly: one value, nothing after it) when out is not nil.
func getBody(t *testing.T, u, mediaType string, out any) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return readBody(t, "GET "+u, resp, mediaType, out)
}

func postBody(t *testing.T, u, body string, out any) []byte {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return readBody(t, "POST "+u, resp, "application/json", out)
}

func readBody(t *testing.T, what string, resp *http.Response, mediaType string, out any) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: %s", what, resp.Status, b)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != mediaType {
		t.Errorf("%s: Content-Type %q, want %s", what, resp.Header.Get("Content-Type"), mediaType)
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(out); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", what, err, b)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("%s: data after the JSON value: %s", what, b)
		}
	}
	return b
}

// xmlText reads b as XML to its end and returns its character data.
func xmlText(b []byte) (string, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	var text strings.Builder
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if depth != 0 || roots != 1 {
				return "", fmt.Errorf("%d unclosed elements, %d root elements", depth, roots)
			}
			return text.String(), nil
		}
		if err != nil {
			return "", err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(tok)
		}
	}
}

// getHTML GETs u, wants 200 text/html, and parses it.
func getHTML(t *testing.T, u string) *html.Node {
	t.Helper()
	b := getBody(t, u, "text/html", nil)
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return doc
}

func findAll(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.Data == tag {
			out = append(out, d)
		}
	}
	return out
}

func find(n *html.Node, tag string) *html.Node {
	if all := findAll(n, tag); len(all) > 0 {
		return all[0]
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func resolve(t *testing.T, from, href string) string {
	t.Helper()
	f, err := url.Parse(from)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(href)
	if err != nil {
		t.Fatalf("link %q on %s: %v", href, from, err)
	}
	return f.ResolveReference(r).String()
}

// followLinks GETs every link of a sensor page and checks that the JSON
// ones are of the sensor id.
func followLinks(t *testing.T, page string, doc *html.Node, id string) {
	t.Helper()
	n := 0
	for _, a := range findAll(doc, "a") {
		u := resolve(t, page, attr(a, "href"))
		switch {
		case strings.HasSuffix(u, "/plot.svg"):
			if _, err := xmlText(getBody(t, u, "image/svg+xml", nil)); err != nil {
				t.Errorf("%s: %v", u, err)
			}
		case strings.HasSuffix(u, "/history"):
			var h schema.History
			getBody(t, u, "application/json", &h)
			if h.Sensor != id {
				t.Errorf("%s: sensor %q, want %q", u, h.Sensor, id)
			}
		case strings.Contains(u, "/v1/"):
			var s schema.Sensor
			getBody(t, u, "application/json", &s)
			if s.Sensor != id {
				t.Errorf("%s: sensor %q, want %q", u, s.Sensor, id)
			}
		default:
			getHTML(t, u)
		}
		n++
	}
	if n < 4 {
		t.Errorf("sensor page of %q: %d links, want the dashboard, JSON, history and plot", id, n)
	}
}
