package reportfile

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/shopspring/decimal"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tradesense/tradesense/core/analytics"
)

// The page: A4 portrait, millimetres.
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	contentW     = pageW - 2*margin
	chartDPI     = 200
)

type rgb struct{ r, g, b int }

var (
	navy     = rgb{22, 38, 66}
	ink      = rgb{33, 37, 41}
	muted    = rgb{108, 117, 125}
	rule     = rgb{222, 226, 230}
	zebra    = rgb{246, 248, 250}
	green    = rgb{25, 135, 84}
	red      = rgb{200, 35, 51}
	accent   = rgb{13, 110, 253}
	greenRGB = color.RGBA{25, 135, 84, 255}
	redRGB   = color.RGBA{200, 35, 51, 255}
	blueRGB  = color.RGBA{13, 110, 253, 255}
)

type pdfDoc struct {
	*fpdf.Fpdf
	doc    *analytics.Document
	images int
}

func (p *pdfDoc) color(c rgb) { p.SetTextColor(c.r, c.g, c.b) }
func (p *pdfDoc) fill(c rgb)  { p.SetFillColor(c.r, c.g, c.b) }
func (p *pdfDoc) draw(c rgb)  { p.SetDrawColor(c.r, c.g, c.b) }

func (p *pdfDoc) font(style string, size float64) { p.SetFont("Go", style, size) }

func renderPDF(doc *analytics.Document, w io.Writer) error {
	f := fpdf.New("P", "mm", "A4", "")
	p := &pdfDoc{Fpdf: f, doc: doc}
	f.AddUTF8FontFromBytes("Go", "", goregular.TTF)
	f.AddUTF8FontFromBytes("Go", "B", gobold.TTF)
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(true, 18)
	f.SetTitle(doc.Title+" — "+doc.Period, true)
	f.SetAuthor("TradeSense", true)
	f.SetCreator("TradeSense", true)
	f.SetCreationDate(doc.GeneratedAt)
	f.SetModificationDate(doc.GeneratedAt)
	f.SetCatalogSort(true)
	f.AliasNbPages("")
	f.SetFooterFunc(func() {
		if f.PageNo() == 1 {
			return
		}
		f.SetY(-12)
		p.font("", 7.5)
		p.color(muted)
		f.CellFormat(contentW/2, 5, "TradeSense · "+doc.Title+" · "+doc.Period, "", 0, "L", false, 0, "")
		f.CellFormat(contentW/2, 5, fmt.Sprintf("page %d of {nb}", f.PageNo()), "", 0, "R", false, 0, "")
	})
	p.titlePage()
	p.summaryPage()
	p.chartsPages()
	for _, t := range doc.Tables()[1:] {
		p.table(t)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	return f.Output(w)
}

func (p *pdfDoc) heading(s string) {
	if p.GetY() > pageH-60 {
		p.AddPage()
	}
	p.Ln(3)
	p.font("B", 13)
	p.color(navy)
	p.CellFormat(contentW, 8, s, "", 1, "L", false, 0, "")
	p.draw(rule)
	p.SetLineWidth(0.3)
	p.Line(margin, p.GetY(), pageW-margin, p.GetY())
	p.Ln(3)
}

func (p *pdfDoc) titlePage() {
	d := p.doc
	p.AddPage()
	p.fill(navy)
	p.Rect(0, 0, pageW, 92, "F")
	p.SetTextColor(255, 255, 255)
	p.SetXY(margin, 26)
	p.font("B", 12)
	p.CellFormat(contentW, 6, "TRADESENSE", "", 1, "L", false, 0, "")
	p.SetX(margin)
	p.font("B", 28)
	p.CellFormat(contentW, 14, d.Title, "", 1, "L", false, 0, "")
	p.SetX(margin)
	p.font("", 15)
	p.CellFormat(contentW, 9, d.Period, "", 1, "L", false, 0, "")

	p.SetXY(margin, 108)
	zone := "UTC"
	if d.Zone != nil {
		zone = d.Zone.String()
	}
	basis := "net of commission and fees"
	if d.Basis == analytics.Gross {
		basis = "gross (before commission and fees)"
	}
	filters := strings.Join(d.Filters, "; ")
	if filters == "" {
		filters = "none: every trade of the period"
	}
	for _, kv := range [][2]string{
		{"Accounts", d.AccountsLine()},
		{"Filters", filters},
		{"Period", d.Period},
		{"Generated", d.GeneratedAt.In(orUTC(d.Zone)).Format("Mon 2 Jan 2006, 15:04 MST")},
		{"Time zone", zone},
		{"Figures", basis + "; per account currency, never summed across currencies"},
	} {
		p.font("B", 10)
		p.color(muted)
		p.CellFormat(32, 7, kv[0], "", 0, "L", false, 0, "")
		p.font("", 10)
		p.color(ink)
		p.MultiCell(contentW-32, 7, kv[1], "", "L", false)
	}
	p.font("B", 10)
	p.color(muted)
	p.CellFormat(32, 7, "Definitions", "", 0, "L", false, 0, "")
	p.font("", 10)
	p.color(accent)
	p.CellFormat(contentW-32, 7, d.DefinitionsURL, "", 1, "L", false, 0, d.DefinitionsURL)

	// Key figures, one row of tiles per currency.
	y := p.GetY() + 10
	for _, s := range d.Analysis.Summaries {
		tiles := [][3]string{
			{"Net P&L", money(s.NetPnL.String()), sign(s.NetPnL.Sign())},
			{"Trades", fmt.Sprint(s.Count), ""},
			{"Win rate", pct(s.WinRate), ""},
			{"Profit factor", fixed(s.ProfitFactor.Decimal.StringFixed(2), s.ProfitFactor.Valid), ""},
			{"Max drawdown", money(s.MaxDrawdown.String()), ""},
		}
		p.SetXY(margin, y)
		p.font("B", 9)
		p.color(muted)
		p.CellFormat(contentW, 6, s.Currency, "", 1, "L", false, 0, "")
		y += 7
		tw := (contentW - 4*3) / 5
		for i, t := range tiles {
			x := margin + float64(i)*(tw+3)
			p.fill(zebra)
			p.draw(rule)
			p.Rect(x, y, tw, 22, "FD")
			p.SetXY(x+3, y+3)
			p.font("", 8)
			p.color(muted)
			p.CellFormat(tw-6, 5, t[0], "", 2, "L", false, 0, "")
			p.SetX(x + 3)
			p.font("B", 13)
			switch t[2] {
			case "+":
				p.color(green)
			case "-":
				p.color(red)
			default:
				p.color(ink)
			}
			p.CellFormat(tw-6, 9, t[1], "", 0, "L", false, 0, "")
		}
		y += 28
	}
	if len(d.Analysis.Summaries) == 0 {
		p.SetXY(margin, y)
		p.font("", 11)
		p.color(muted)
		p.CellFormat(contentW, 8, "No closed trades in this period.", "", 1, "L", false, 0, "")
	}
}

func orUTC(l *time.Location) *time.Location {
	if l == nil {
		return time.UTC
	}
	return l
}

func sign(s int) string {
	switch {
	case s > 0:
		return "+"
	case s < 0:
		return "-"
	}
	return ""
}

// money groups thousands of an exact decimal string, two places at least.
func money(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String() + "." + frac
	if neg {
		return "−" + out
	}
	return out
}

func pct(ratio decimal.NullDecimal) string {
	if !ratio.Valid {
		return "—"
	}
	return ratio.Decimal.Mul(decimal.NewFromInt(100)).StringFixed(1) + " %"
}

func fixed(s string, ok bool) string {
	if !ok {
		return "—"
	}
	return s
}

func (p *pdfDoc) summaryPage() {
	p.AddPage()
	p.table(p.doc.SummaryTable())
	for _, eq := range p.doc.Analysis.Equity {
		p.chart(p.equityChart(eq), 70)
	}
}

// table draws t with a header row, right-aligned numbers and zebra rows;
// the header repeats after a page break.
func (p *pdfDoc) table(t analytics.Table) {
	p.heading(t.Title)
	if len(t.Rows) == 0 {
		p.font("", 9)
		p.color(muted)
		p.CellFormat(contentW, 6, "No trades.", "", 1, "L", false, 0, "")
		return
	}
	size := 8.5
	if len(t.Columns) > 7 {
		size = 7.5
	}
	p.font("", size)
	widths := make([]float64, len(t.Columns))
	for i, c := range t.Columns {
		p.font("B", size)
		widths[i] = p.GetStringWidth(c) + 4
	}
	p.font("", size)
	for _, r := range t.Rows {
		for i, c := range r {
			widths[i] = max(widths[i], p.GetStringWidth(show(c))+4)
		}
	}
	total := 0.0
	for _, w := range widths {
		total += w
	}
	if total > contentW {
		for i := range widths {
			widths[i] *= contentW / total
		}
	} else {
		widths[0] += contentW - total // the label column takes the slack
	}
	rowH := 5.6
	header := func() {
		p.font("B", size)
		p.fill(navy)
		p.SetTextColor(255, 255, 255)
		for i, c := range t.Columns {
			align := "R"
			if i == 0 || !t.RightText && !t.Rows[0][i].Number && !t.Rows[0][i].Missing {
				align = "L"
			}
			p.CellFormat(widths[i], rowH+0.6, c, "", 0, align, true, 0, "")
		}
		p.Ln(-1)
		p.font("", size)
	}
	header()
	for n, r := range t.Rows {
		if p.GetY()+rowH > pageH-20 {
			p.AddPage()
			header()
		}
		fill := n%2 == 1
		p.fill(zebra)
		for i, c := range r {
			align := "L"
			p.color(ink)
			if c.Number || c.Missing || t.RightText && i > 0 {
				align = "R"
			}
			if c.Neg {
				p.color(red)
			}
			if c.Missing {
				p.color(muted)
			}
			p.CellFormat(widths[i], rowH, show(c), "", 0, align, fill, 0, "")
		}
		p.Ln(-1)
	}
}

func show(c analytics.Cell) string {
	switch {
	case c.Missing:
		return "—"
	case c.Number && strings.HasPrefix(c.Text, "-"):
		return "−" + c.Text[1:]
	}
	return c.Text
}

// chart draws a gonum plot as a PNG of the content width and h mm.
func (p *pdfDoc) chart(pl *plot.Plot, h float64) {
	if pl == nil {
		return
	}
	if p.GetY()+h > pageH-20 {
		p.AddPage()
	}
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(contentW)*vg.Millimeter, vg.Length(h)*vg.Millimeter), vgimg.UseDPI(chartDPI))
	pl.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		p.SetError(fmt.Errorf("chart: %w", err))
		return
	}
	p.images++
	name := fmt.Sprintf("chart%d", p.images)
	opt := fpdf.ImageOptions{ImageType: "PNG"}
	p.RegisterImageOptionsReader(name, opt, &buf)
	y := p.GetY() + 2
	p.ImageOptions(name, margin, y, contentW, h, false, opt, 0, "")
	p.SetY(y + h + 3)
}

// Charts are pictures: their coordinates are float64 approximations of
// the exact figures, which the tables print.
func f64(d decimal.Decimal) float64 { return d.InexactFloat64() }

func newPlot(title, ylabel string) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = title
	pl.Title.TextStyle.Font.Size = vg.Points(10)
	pl.Title.TextStyle.Font.Variant = "Sans"
	pl.Title.TextStyle.Font.Weight = 700
	pl.Y.Label.TextStyle.Font.Variant = "Sans"
	pl.Title.Padding = vg.Points(6)
	pl.Y.Label.Text = ylabel
	pl.Y.Label.TextStyle.Font.Size = vg.Points(8)
	for _, a := range []*plot.Axis{&pl.X, &pl.Y} {
		a.Tick.Label.Font.Size = vg.Points(7)
		a.Tick.Label.Font.Variant = "Sans"
		a.Color = color.Gray{160}
		a.Tick.Color = color.Gray{160}
	}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{232}
	g.Horizontal.Color = color.Gray{232}
	pl.Add(g)
	return pl
}

func (p *pdfDoc) equityChart(eq analytics.Equity) *plot.Plot {
	if len(eq.ByTrade) == 0 {
		return nil
	}
	pl := newPlot("Equity curve, "+eq.Currency+" (by close time)", eq.Currency)
	pts := make(plotter.XYs, 0, len(eq.ByTrade)+1)
	start := eq.ByTrade[0].Equity.Sub(eq.ByTrade[0].PnL)
	pts = append(pts, plotter.XY{X: float64(p.doc.Analysis.Trades[0].OpenedAt.Unix()), Y: f64(start)})
	for _, pt := range eq.ByTrade {
		pts = append(pts, plotter.XY{X: float64(pt.At.Unix()), Y: f64(pt.Equity)})
	}
	if pts[0].X > pts[1].X {
		pts[0].X = pts[1].X
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil
	}
	l.Color, l.Width = blueRGB, vg.Points(1.4)
	pl.Add(l)
	pl.X.Tick.Marker = timeTicks(p.doc.Zone, pts[0].X, pts[len(pts)-1].X)
	return pl
}

func (p *pdfDoc) drawdownChart(eq analytics.Equity) *plot.Plot {
	if len(eq.ByTrade) == 0 {
		return nil
	}
	pl := newPlot("Drawdown, "+eq.Currency+" (below the running peak)", eq.Currency)
	pts := plotter.XYs{{X: float64(eq.ByTrade[0].At.Unix()), Y: 0}}
	for _, pt := range eq.ByTrade {
		pts = append(pts, plotter.XY{X: float64(pt.At.Unix()), Y: -f64(pt.Drawdown)})
	}
	poly := append(slices.Clone(pts), plotter.XY{X: pts[len(pts)-1].X, Y: 0})
	pg, err := plotter.NewPolygon(poly)
	if err != nil {
		return nil
	}
	pg.Color = color.NRGBA{200, 35, 51, 60}
	pg.LineStyle.Color = redRGB
	pg.Width = vg.Points(1)
	pl.Add(pg)
	pl.X.Tick.Marker = timeTicks(p.doc.Zone, pts[0].X, pts[len(pts)-1].X)
	return pl
}

// timeTicks labels a time axis by day or month, in the user's zone.
func timeTicks(zone *time.Location, from, to float64) plot.Ticker {
	format := "Jan 2"
	if to-from > 120*24*3600 {
		format = "Jan 2006"
	} else if to-from < 2*24*3600 {
		format = "Jan 2 15:04"
	}
	return plot.TimeTicks{Format: format, Time: func(t float64) time.Time { return time.Unix(int64(t), 0).In(orUTC(zone)) }}
}

// bars is a bar chart of signed values: gains green, losses red.
func bars(title, ylabel string, labels []string, values []float64) *plot.Plot {
	if len(values) == 0 {
		return nil
	}
	pl := newPlot(title, ylabel)
	pos, neg := make(plotter.Values, len(values)), make(plotter.Values, len(values))
	for i, v := range values {
		if v >= 0 {
			pos[i] = v
		} else {
			neg[i] = v
		}
	}
	w := vg.Points(math.Min(28, 380/float64(len(values))))
	for _, s := range []struct {
		v plotter.Values
		c color.Color
	}{{pos, greenRGB}, {neg, redRGB}} {
		b, err := plotter.NewBarChart(s.v, w)
		if err != nil {
			return nil
		}
		b.Color = s.c
		b.LineStyle.Width = 0
		pl.Add(b)
	}
	pl.NominalX(labels...)
	return pl
}

func (p *pdfDoc) breakdownBars(dim analytics.Dimension, cur, title string, short func(analytics.Group) string) *plot.Plot {
	var labels []string
	var values []float64
	for _, g := range p.doc.Analysis.Breakdowns[dim] {
		if g.Currency != cur {
			continue
		}
		labels = append(labels, short(g))
		values = append(values, f64(g.NetPnL))
	}
	return bars(title, cur, labels, values)
}

func (p *pdfDoc) chartsPages() {
	a := p.doc.Analysis
	if len(a.Summaries) == 0 {
		return
	}
	p.AddPage()
	p.heading("Drawdown and calendar")
	for _, eq := range a.Equity {
		p.chart(p.drawdownChart(eq), 55)
	}
	for _, c := range a.Calendars {
		p.heatmap(c)
	}
	p.AddPage()
	p.heading("When and how the trades worked")
	for _, s := range a.Summaries {
		cur := s.Currency
		p.chart(p.breakdownBars(analytics.ByWeekday, cur, "Net P&L by weekday of entry, "+cur, func(g analytics.Group) string { return g.Label[:3] }), 52)
		p.chart(p.breakdownBars(analytics.ByHour, cur, "Net P&L by hour of entry, "+cur, func(g analytics.Group) string { return g.Key }), 52)
		for _, d := range a.Distributions {
			if d.Currency != cur || d.Of != analytics.OfR || d.Count == 0 {
				continue
			}
			var labels []string
			var values []float64
			for _, b := range d.Buckets {
				labels = append(labels, rLabel(b))
				values = append(values, float64(b.Count))
			}
			pl := bars(fmt.Sprintf("R-multiple distribution, %s (%d trades with a risk)", cur, d.Count), "trades", labels, values)
			p.chart(pl, 52)
		}
	}
}

func rLabel(b analytics.Bucket) string {
	switch {
	case !b.Lower.Valid:
		return "<" + b.Upper.Decimal.String()
	case !b.Upper.Valid:
		return "≥" + b.Lower.Decimal.String()
	}
	return b.Lower.Decimal.String()
}

// heatmap draws a month grid (Monday first) per month with trades: each
// day coloured by its net P&L, darker for larger amounts.
func (p *pdfDoc) heatmap(c analytics.Calendar) {
	if len(c.Days) == 0 {
		return
	}
	byDay := map[string]analytics.CalendarDay{}
	var maxAbs float64
	for _, d := range c.Days {
		byDay[d.Date] = d
		maxAbs = math.Max(maxAbs, math.Abs(f64(d.NetPnL)))
	}
	first, _ := time.Parse(time.DateOnly, c.Days[0].Date)
	last, _ := time.Parse(time.DateOnly, c.Days[len(c.Days)-1].Date)
	months := []time.Time{}
	for m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(last); m = m.AddDate(0, 1, 0) {
		months = append(months, m)
	}
	if len(months) > 12 {
		months = months[len(months)-12:]
	}
	// Cells are placed by hand: no automatic page break inside a block.
	p.SetAutoPageBreak(false, 0)
	defer p.SetAutoPageBreak(true, 18)
	const cols = 2
	blockW := (contentW - 8) / cols
	cell := blockW / 7
	blockH := 8 + 4 + 6*cell
	for i, m := range months {
		col := i % cols
		if col == 0 {
			if p.GetY()+blockH > pageH-20 {
				p.AddPage()
			}
		}
		x0 := margin + float64(col)*(blockW+8)
		y0 := p.GetY()
		p.SetXY(x0, y0)
		p.font("B", 9)
		p.color(navy)
		p.CellFormat(blockW, 6, m.Format("January 2006")+" · "+c.Currency, "", 0, "L", false, 0, "")
		p.font("", 6.5)
		p.color(muted)
		for k, wd := range []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"} {
			p.SetXY(x0+float64(k)*cell, y0+7)
			p.CellFormat(cell, 4, wd, "", 0, "C", false, 0, "")
		}
		offset := (int(m.Weekday()) + 6) % 7
		for d := m; d.Month() == m.Month(); d = d.AddDate(0, 0, 1) {
			idx := offset + d.Day() - 1
			x, y := x0+float64(idx%7)*cell, y0+11+float64(idx/7)*cell
			day, ok := byDay[d.Format(time.DateOnly)]
			light := true
			switch {
			case !ok:
				p.fill(zebra)
			default:
				v := f64(day.NetPnL)
				t := 0.25 + 0.75*math.Abs(v)/math.Max(maxAbs, 1e-9)
				light = t < 0.55
				base := green
				if v < 0 {
					base = red
				}
				p.SetFillColor(mix(255, base.r, t), mix(255, base.g, t), mix(255, base.b, t))
			}
			p.draw(rgb{255, 255, 255})
			p.SetLineWidth(0.6)
			p.Rect(x, y, cell, cell, "FD")
			p.SetXY(x+0.8, y+0.8)
			p.font("", 6)
			if ok && !light {
				p.SetTextColor(255, 255, 255)
			} else {
				p.color(ink)
			}
			p.CellFormat(cell-1.6, 3, fmt.Sprint(d.Day()), "", 0, "L", false, 0, "")
			if ok {
				p.SetXY(x+0.5, y+cell/2)
				p.font("B", 5.5)
				p.CellFormat(cell-1, 3.5, compact(day.NetPnL), "", 0, "C", false, 0, "")
			}
		}
		if col == cols-1 || i == len(months)-1 {
			p.SetY(y0 + blockH + 2)
		}
	}
}

func mix(a, b int, t float64) int { return int(float64(a) + (float64(b)-float64(a))*t) }

// compact prints an amount in a calendar cell: "+1.2k", "−350".
func compact(d decimal.Decimal) string {
	v := d.InexactFloat64() // a label, not a figure
	sgn := "+"
	if v < 0 {
		sgn, v = "−", -v
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%s%.1fM", sgn, v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%s%.0fk", sgn, v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%s%.1fk", sgn, v/1e3)
	}
	return fmt.Sprintf("%s%.0f", sgn, v)
}
