// Package plot draws what streamrls learned: a sensor's learning curves
// (gonum/plot, as SVG or PNG) and its latest events (a small hand-made SVG).
// The HTTP API's plot.svg and sensor page and the plot command draw with it.
package plot

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/streamrls/streamrls/schema"
)

// Sizes of a figure of curves.
const (
	Width       = 9 * vg.Inch
	PanelHeight = 2.6 * vg.Inch
)

// palette is matplotlib's tab10: coefficient j has colour j mod 10.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// Curves draws a history's learning curves: for each model a panel of every
// coefficient θⱼ against samples, with θ*ⱼ dashed in the same colour when
// known, and one panel of each model's MSE (solid) and recent MSE (dashed)
// on a log scale. format is "svg" or "png".
func Curves(w io.Writer, h schema.History, format string) error {
	if len(h.Samples) == 0 {
		return fmt.Errorf("sensor %q: no history to plot", h.Sensor)
	}
	var rows [][]*plot.Plot
	var legends []plot.Legend
	for _, m := range h.Models {
		p, leg, err := thetaPanel(h, m)
		if err != nil {
			return err
		}
		rows = append(rows, []*plot.Plot{p})
		legends = append(legends, leg)
	}
	p, leg, err := msePanel(h)
	if err != nil {
		return err
	}
	rows = append(rows, []*plot.Plot{p})
	legends = append(legends, leg)

	height := PanelHeight * vg.Length(len(rows))
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch strings.ToLower(format) {
	case "svg":
		c = vgsvg.New(Width, height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(Width, height), vgimg.UseDPI(110))}
	default:
		return fmt.Errorf("plot format %q: want svg or png", format)
	}
	dc := draw.New(c)
	// Each panel's legend goes in a strip to its right, off the curves.
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadTop: 4, PadBottom: 4, PadLeft: 4, PadRight: legendWidth, PadY: 10}
	canvases := plot.Align(rows, tiles, dc)
	for i := range rows {
		c := canvases[i][0]
		rows[i][0].Draw(c)
		strip := c
		strip.Min.X, strip.Max.X = c.Max.X+8, dc.Max.X-4
		strip.Max.Y -= 18 // below the title's height
		legends[i].Draw(strip)
	}
	_, err = c.WriteTo(w)
	return err
}

// CurvesBytes is Curves into a buffer.
func CurvesBytes(h schema.History, format string) ([]byte, error) {
	var b bytes.Buffer
	if err := Curves(&b, h, format); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// wholeTicks labels the sample axis with whole numbers ("12500", not
// gonum/plot's "12500.00").
type wholeTicks struct{}

func (wholeTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// legendWidth is the strip right of each panel that holds its legend.
const legendWidth = 1.9 * vg.Inch

func newPanel(title, ylabel string) (*plot.Plot, plot.Legend) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "samples"
	p.X.Tick.Marker = wholeTicks{}
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.TextStyle.Font.Size = vg.Points(9)
	leg.ThumbnailWidth = vg.Points(22)
	return p, leg
}

func thetaPanel(h schema.History, m schema.ModelHistory) (*plot.Plot, plot.Legend, error) {
	p, leg := newPanel(fmt.Sprintf("sensor %s — %s (λ=%g, δ=%g): coefficients θ", h.Sensor, m.Name, m.Lambda, m.Delta), "θ")
	for j := 0; j < h.Dim; j++ {
		col := palette[j%len(palette)]
		pts := make(plotter.XYs, len(h.Samples))
		for i, n := range h.Samples {
			pts[i] = plotter.XY{X: float64(n), Y: m.Theta[i][j]}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, leg, fmt.Errorf("sensor %q %s θ%d: %w", h.Sensor, m.Name, j+1, err)
		}
		l.Color, l.Width = col, vg.Points(1.3)
		p.Add(l)
		if h.Dim <= len(palette) && len(h.Features) == h.Dim {
			leg.Add("θ "+h.Features[j], l)
		} else if h.Dim <= len(palette) {
			leg.Add(fmt.Sprintf("θ%d", j+1), l)
		} else if j == 0 {
			leg.Add("θ (a colour each)", l)
		}
		if h.ThetaStar != nil {
			ts := make(plotter.XYs, len(h.Samples))
			for i, n := range h.Samples {
				ts[i] = plotter.XY{X: float64(n), Y: h.ThetaStar[i][j]}
			}
			sl, err := plotter.NewLine(ts)
			if err != nil {
				return nil, leg, fmt.Errorf("sensor %q θ*%d: %w", h.Sensor, j+1, err)
			}
			sl.Color, sl.Width, sl.Dashes = col, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(sl)
		}
	}
	if h.ThetaStar != nil {
		l, _ := plotter.NewLine(plotter.XYs{{}})
		l.Color, l.Width, l.Dashes = color.Gray{Y: 90}, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
		leg.Add("θ* (true, dashed)", l)
	}
	return p, leg, nil
}

func msePanel(h schema.History) (*plot.Plot, plot.Legend, error) {
	p, leg := newPanel(fmt.Sprintf("sensor %s — MSE of the a-priori errors (log scale)", h.Sensor), "MSE")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lo, hi := math.Inf(1), math.Inf(-1)
	for k, m := range h.Models {
		col := palette[k%len(palette)]
		for _, series := range []struct {
			label  string
			values []float64
			dashed bool
		}{{m.Name + " MSE", m.MSE, false}, {m.Name + " recent MSE", m.RecentMSE, true}} {
			var pts plotter.XYs
			for i, v := range series.values {
				if v > 0 && !math.IsInf(v, 0) {
					pts = append(pts, plotter.XY{X: float64(h.Samples[i]), Y: v})
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, leg, fmt.Errorf("sensor %q %s: %w", h.Sensor, series.label, err)
			}
			l.Color, l.Width = col, vg.Points(1.4)
			if series.dashed {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l)
			leg.Add(series.label, l)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1e-3, 1 // nothing positive to show: an empty log axis
	}
	// A log axis needs a positive range that is not a single point.
	p.Y.Min, p.Y.Max = lo/1.5, hi*1.5
	return p, leg, nil
}
