package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// libColors gives each library the same colour in every panel.
var libColors = map[string]string{
	"pushwire": "#d62728",
	"gorilla":  "#1f77b4",
	"gobwas":   "#2ca02c",
	"coder":    "#9467bd",
	"gws":      "#ff7f0e",
}

var libOrder = []string{"pushwire", "gorilla", "gobwas", "coder", "gws"}

const (
	panelW, panelH = 440, 320
	marginL        = 70
	marginR        = 20
	marginT        = 40
	marginB        = 50
	legendH        = 40
)

// chart draws, for each benchmark op, MB/s against message size per
// library, both axes logarithmic.
func chart(rs results, ops []string) []byte {
	var b bytes.Buffer
	w, h := panelW*len(ops), panelH+legendH
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	for i, op := range ops {
		panel(&b, rs, op, float64(i*panelW))
	}
	// Legend, one entry per library, under the panels.
	for i, lib := range libOrder {
		x := float64(marginL + i*110)
		y := float64(panelH + legendH/2)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/>`+"\n", x, y, x+24, y, libColors[lib])
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" dominant-baseline="middle">%s</text>`+"\n", x+30, y, lib)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func panel(b *bytes.Buffer, rs results, op string, left float64) {
	type point struct{ size, mbps float64 }
	series := map[string][]point{}
	var sizes []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, row := range rs.rows {
		sizeName, ok := strings.CutPrefix(row, op+"/")
		if !ok {
			continue
		}
		n := bytesOf(sizeName)
		if n <= 0 {
			continue
		}
		sizes = append(sizes, n)
		for _, lib := range rs.libs[row] {
			v, ok := rs.median[key{row, lib, "MB/s"}]
			if !ok || v <= 0 {
				continue
			}
			series[lib] = append(series[lib], point{n, v})
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	x0, x1 := left+marginL, left+panelW-marginR
	y0, y1 := float64(panelH-marginB), float64(marginT)
	fmt.Fprintf(b, `<text x="%.0f" y="22" text-anchor="middle" font-size="14" font-weight="bold">%s: throughput (MB/s)</text>`+"\n", (x0+x1)/2, strings.TrimPrefix(op, "Benchmark"))
	if len(sizes) == 0 {
		return
	}
	minS, maxS := sizes[0], sizes[0]
	for _, s := range sizes {
		minS, maxS = math.Min(minS, s), math.Max(maxS, s)
	}
	if minS == maxS {
		maxS = minS * 2
	}
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dLo == dHi {
		dHi++
	}
	px := func(s float64) float64 {
		return x0 + (x1-x0)*(math.Log2(s)-math.Log2(minS))/(math.Log2(maxS)-math.Log2(minS))
	}
	py := func(v float64) float64 { return y0 + (y1-y0)*(math.Log10(v)-dLo)/(dHi-dLo) }

	// Axes, decade grid on y, a tick per measured size on x.
	fmt.Fprintf(b, `<path d="M%.0f %.0f V%.0f H%.0f" fill="none" stroke="black"/>`+"\n", x0, y1, y0, x1)
	for d := dLo; d <= dHi; d++ {
		y := py(math.Pow(10, d))
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", x0-6, y, strconv.FormatFloat(math.Pow(10, d), 'g', -1, 64))
	}
	for _, s := range sizes {
		x := px(s)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="black"/>`+"\n", x, y0, x, y0+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x, y0+18, sizeName(s))
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">message size (log scale)</text>`+"\n", (x0+x1)/2, y0+38)

	for _, lib := range libOrder {
		pts := series[lib]
		if len(pts) == 0 {
			continue
		}
		var d strings.Builder
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, px(p.size), py(p.mbps))
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.TrimSpace(d.String()), libColors[lib])
		for _, p := range pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s MB/s</title></circle>`+"\n",
				px(p.size), py(p.mbps), libColors[lib], lib, sizeName(p.size), num(p.mbps))
		}
	}
}

// bytesOf reads a size name of the benchmarks (16B, 1KiB, 1MiB).
func bytesOf(name string) float64 {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(name, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil {
				return 0
			}
			return v * u.mult
		}
	}
	return 0
}

func sizeName(n float64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(n/(1<<20), 'g', -1, 64) + "MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(n/(1<<10), 'g', -1, 64) + "KiB"
	}
	return strconv.FormatFloat(n, 'g', -1, 64) + "B"
}
