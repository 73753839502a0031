package plot

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/streamrls/streamrls/schema"
)

// EventsSVG draws the latest events (newest first) oldest to newest: each
// anomaly a dot at its z, each drift a dashed vertical line; nil without
// events. A hand-made SVG: a few dozen marks need no plotting library.
func EventsSVG(evs []schema.Event) template.HTML {
	if len(evs) == 0 {
		return ""
	}
	const w, h, pad = 600.0, 160.0, 30.0
	zmax := 1.0
	for _, e := range evs {
		if e.Z != nil && !math.IsNaN(*e.Z) && !math.IsInf(*e.Z, 0) {
			zmax = math.Max(zmax, math.Abs(*e.Z))
		}
	}
	xOf := func(i int) float64 { // i: index in evs (newest first)
		k := len(evs) - 1 - i
		return pad + (w-2*pad)*(float64(k)+0.5)/float64(len(evs))
	}
	yOf := func(z float64) float64 { return h/2 - (h/2-pad/2)*z/zmax }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="eventplot" width="%g" height="%g" viewBox="0 0 %g %g" font-size="10">`, w, h, w, h)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#999"/>`, pad, h/2, w-pad, h/2)
	fmt.Fprintf(&b, `<text x="2" y="%g">%.3g</text><text x="2" y="%g">0</text><text x="2" y="%g">%.3g</text>`,
		yOf(zmax)+4, zmax, h/2+4, yOf(-zmax)+4, -zmax)
	for i, e := range evs {
		x := xOf(i)
		switch {
		case e.Kind == schema.EventDrift:
			fmt.Fprintf(&b, `<line class="drift" x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#a05a00" stroke-dasharray="4 3"><title>drift of %s at %s</title></line>`,
				x, pad/2, x, h-pad/2, template.HTMLEscapeString(e.Model), template.HTMLEscapeString(e.Time))
		case e.Z != nil && !math.IsNaN(*e.Z) && !math.IsInf(*e.Z, 0):
			fmt.Fprintf(&b, `<circle class="anomaly" cx="%.1f" cy="%.1f" r="4" fill="#c03030"><title>z = %.4g (%s) at %s</title></circle>`,
				x, yOf(*e.Z), *e.Z, template.HTMLEscapeString(e.Model), template.HTMLEscapeString(e.Time))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped names only
}
