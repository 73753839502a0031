// Package client calls the HTTP API of a running `streamrls serve` (or
// `run --http`): sensor lookups, the sensor list, predictions, learning
// histories and events. It imports only the standard library and the
// API's JSON types (package schema), so a program that only calls the API
// builds without Kafka, goka, LevelDB or gonum.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/streamrls/streamrls/schema"
)

// Client looks sensors up through the HTTP API of a `streamrls serve`.
type Client struct {
	// BaseURL of the server, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// Group to ask (empty: the server's default group).
	Group string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP client (nil: http.DefaultClient).
	HTTP *http.Client
}

// ErrNotFound is returned for an unknown sensor.
var ErrNotFound = errors.New("not found")

func (c *Client) path(parts ...string) string {
	p := strings.TrimRight(c.BaseURL, "/") + "/v1"
	if c.Group != "" {
		p += "/groups/" + url.PathEscape(c.Group)
	}
	for _, s := range parts {
		p += "/" + s
	}
	return p
}

// sensorPath is the URL of a sensor's resource (suffix: more segments). An
// empty ID, "." or ".." is no sensor ID: as a path segment it would name
// the list or its parent, so it is refused here instead of asked.
func (c *Client) sensorPath(id string, suffix ...string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("sensor ID %q: not a sensor ID (empty, \".\" and \"..\" name no sensor)", id)
	}
	return c.path(append([]string{"sensors", url.PathEscape(id)}, suffix...)...), nil
}

func (c *Client) do(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e schema.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s %s: %w: %s", method, u, ErrNotFound, e.Error)
		}
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Sensor returns a sensor's state.
func (c *Client) Sensor(ctx context.Context, id string) (*schema.Sensor, error) {
	var out schema.Sensor
	u, err := c.sensorPath(id)
	if err != nil {
		return nil, err
	}
	if err := c.do(ctx, http.MethodGet, u, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Sensors lists every sensor ID, following pages.
func (c *Client) Sensors(ctx context.Context) ([]string, error) {
	var all []string
	after := ""
	for {
		var page schema.Sensors
		u := c.path("sensors") + "?limit=1000&after=" + url.QueryEscape(after)
		if err := c.do(ctx, http.MethodGet, u, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Sensors...)
		if page.Next == "" {
			return all, nil
		}
		// IDs are listed in order: a next that does not advance would
		// page forever.
		if page.Next <= after {
			return nil, fmt.Errorf("GET %s: next %q does not come after %q: the list does not advance", u, page.Next, after)
		}
		after = page.Next
	}
}

// Predict returns each model's prediction for x.
func (c *Client) Predict(ctx context.Context, id string, x []float64) (*schema.Predictions, error) {
	var out schema.Predictions
	u, err := c.sensorPath(id, "predict")
	if err != nil {
		return nil, err
	}
	if err := c.do(ctx, http.MethodPost, u, schema.PredictRequest{X: x}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// History returns a sensor's learning history (GET /v1/sensors/{id}/history).
func (c *Client) History(ctx context.Context, id string) (*schema.History, error) {
	var out schema.History
	u, err := c.sensorPath(id, "history")
	if err != nil {
		return nil, err
	}
	if err := c.do(ctx, http.MethodGet, u, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Events returns a sensor's latest anomaly and drift events, newest first
// (GET /v1/sensors/{id}/events); limit ≤ 0 takes the server's default.
func (c *Client) Events(ctx context.Context, id string, limit int) (*schema.Events, error) {
	var out schema.Events
	u, err := c.sensorPath(id, "events")
	if err != nil {
		return nil, err
	}
	if limit > 0 {
		u += "?limit=" + strconv.Itoa(limit)
	}
	if err := c.do(ctx, http.MethodGet, u, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
