package analytics

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Format is a report file format.
type Format string

// The formats.
const (
	PDF  Format = "pdf"
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// Valid reports whether f is a known format.
func (f Format) Valid() bool { return f == PDF || f == CSV || f == XLSX }

// ContentType is f's media type.
func (f Format) ContentType() string {
	switch f {
	case PDF:
		return "application/pdf"
	case CSV:
		return "text/csv; charset=utf-8"
	}
	return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

// Document is what a report file shows: its title page and the analysis.
type Document struct {
	Title          string
	Period         string   // "Week of Mon 4 May 2026", "1 May – 31 May 2026"
	Accounts       []string // the accounts the report covers, by name
	Filters        []string // the filter's other criteria ("symbol AAPL"), none for the whole book
	GeneratedAt    time.Time
	Zone           *time.Location // the user's, for every date shown
	Basis          Basis
	DefinitionsURL string
	Analysis       *Analysis
	Catalog        Catalog
}

// Renderer writes a document in a format. Implementations fail only with
// write errors or apperr.Invalid for an unknown format.
type Renderer interface {
	Render(ctx context.Context, doc *Document, format Format, w io.Writer) error
}

// Cell is one value of a table: text, or a number written as an exact
// decimal.
type Cell struct {
	Text    string
	Number  bool // Text is a decimal or an integer
	Neg     bool // a negative number (for colouring)
	Missing bool // a null figure (shown as —)
}

// Table is one table of a report: the PDF, CSV and XLSX files show the same
// tables.
type Table struct {
	Name    string // short, for sheet names
	Title   string
	Columns []string
	Rows    [][]Cell
	// RightText aligns text values right like numbers (a column of
	// figures, some written as text).
	RightText bool
}

func text(s string) Cell { return Cell{Text: s} }

func num(d decimal.Decimal) Cell {
	return Cell{Text: d.String(), Number: true, Neg: d.IsNegative()}
}

// money shows an amount exactly, with at least two decimal places.
func money(d decimal.Decimal) Cell {
	c := num(d)
	if i := strings.IndexByte(c.Text, '.'); i < 0 || len(c.Text)-i-1 < 2 {
		c.Text = d.StringFixed(2)
	}
	return c
}

func nullable(d decimal.NullDecimal, m func(decimal.Decimal) Cell) Cell {
	if !d.Valid {
		return Cell{Text: "", Missing: true}
	}
	return m(d.Decimal)
}

func ratio(d decimal.Decimal) Cell {
	c := num(d)
	c.Text = d.StringFixed(Scale)
	return c
}

func integer(n int) Cell { return Cell{Text: fmt.Sprint(n), Number: true} }

func duration(d *time.Duration) Cell {
	if d == nil {
		return Cell{Missing: true}
	}
	return Cell{Text: FormatDuration(*d)}
}

// FormatDuration is a holding time as people read it: "45s", "12m", "3h 20m",
// "2d 4h".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// SummaryTable is the summary of every currency, one column each.
func (d *Document) SummaryTable() Table {
	a := d.Analysis
	t := Table{Name: "Summary", Title: "Summary", Columns: []string{"Figure"}, RightText: true}
	for _, s := range a.Summaries {
		t.Columns = append(t.Columns, s.Currency)
	}
	row := func(name string, f func(s *Summary) Cell) {
		r := []Cell{text(name)}
		for i := range a.Summaries {
			r = append(r, f(&a.Summaries[i]))
		}
		t.Rows = append(t.Rows, r)
	}
	row("Trades", func(s *Summary) Cell { return integer(s.Count) })
	row("Wins / losses / breakevens", func(s *Summary) Cell {
		return text(fmt.Sprintf("%d / %d / %d", s.Wins, s.Losses, s.Breakevens))
	})
	row("Win rate", func(s *Summary) Cell { return nullable(s.WinRate, ratio) })
	row("Gross P&L", func(s *Summary) Cell { return money(s.GrossPnL) })
	row("Commission and fees", func(s *Summary) Cell { return money(s.Fees) })
	row("Net P&L", func(s *Summary) Cell { return money(s.NetPnL) })
	row("Average win", func(s *Summary) Cell { return nullable(s.AvgWin, money) })
	row("Average loss", func(s *Summary) Cell { return nullable(s.AvgLoss, money) })
	row("Largest win", func(s *Summary) Cell { return nullable(s.LargestWin, money) })
	row("Largest loss", func(s *Summary) Cell { return nullable(s.LargestLoss, money) })
	row("Payoff ratio", func(s *Summary) Cell { return nullable(s.PayoffRatio, ratio) })
	row("Profit factor", func(s *Summary) Cell { return nullable(s.ProfitFactor, ratio) })
	row("Expectancy per trade", func(s *Summary) Cell { return nullable(s.Expectancy, money) })
	row("Expectancy (R)", func(s *Summary) Cell { return nullable(s.ExpectancyR, ratio) })
	row("Trades with a risk (R)", func(s *Summary) Cell { return integer(s.RCount) })
	row("SQN", func(s *Summary) Cell { return nullable(s.SQN, ratio) })
	row("Max drawdown", func(s *Summary) Cell { return money(s.MaxDrawdown) })
	row("Max drawdown %", func(s *Summary) Cell { return nullable(s.MaxDrawdownPct, ratio) })
	row("Recovery factor", func(s *Summary) Cell { return nullable(s.RecoveryFactor, ratio) })
	row("Sharpe (daily, annualised)", func(s *Summary) Cell { return nullable(s.Sharpe, ratio) })
	row("Sortino (daily, annualised)", func(s *Summary) Cell { return nullable(s.Sortino, ratio) })
	row("Max consecutive wins", func(s *Summary) Cell { return integer(s.MaxConsecutiveWins) })
	row("Max consecutive losses", func(s *Summary) Cell { return integer(s.MaxConsecutiveLosses) })
	row("Average hold, winners", func(s *Summary) Cell { return duration(s.AvgHoldWin) })
	row("Average hold, losers", func(s *Summary) Cell { return duration(s.AvgHoldLoss) })
	row("Long: trades / net", func(s *Summary) Cell { return text(fmt.Sprintf("%d / %s", s.Long.Count, money(s.Long.NetPnL).Text)) })
	row("Short: trades / net", func(s *Summary) Cell { return text(fmt.Sprintf("%d / %s", s.Short.Count, money(s.Short.NetPnL).Text)) })
	row("Kelly fraction (estimate)", func(s *Summary) Cell { return nullable(s.Kelly, ratio) })
	return t
}

// BreakdownTitles names the dimensions in reports.
var BreakdownTitles = map[Dimension]string{
	BySymbol: "By symbol", ByAssetClass: "By asset class", ByTag: "By tag", ByPlaybook: "By playbook", ByAccount: "By account",
	ByDirection: "By direction", ByWeekday: "By weekday of entry", ByHour: "By hour of entry", ByHolding: "By holding time", ByMonth: "By month",
}

// BreakdownTable is one dimension's rows.
func (d *Document) BreakdownTable(dim Dimension) Table {
	t := Table{Name: string(dim), Title: BreakdownTitles[dim],
		Columns: []string{"", "Currency", "Trades", "Win rate", "Net P&L", "Profit factor", "Expectancy"}}
	for _, g := range d.Analysis.Breakdowns[dim] {
		t.Rows = append(t.Rows, []Cell{text(g.Label), text(g.Currency), integer(g.Count), nullable(g.WinRate, ratio), money(g.NetPnL),
			nullable(g.ProfitFactor, ratio), nullable(g.Expectancy, money)})
	}
	return t
}

// CalendarTable lists the days.
func (d *Document) CalendarTable() Table {
	t := Table{Name: "Calendar", Title: "Calendar", Columns: []string{"Date", "Currency", "Trades", "Wins", "Losses", "Net P&L"}}
	for _, c := range d.Analysis.Calendars {
		for _, day := range c.Days {
			t.Rows = append(t.Rows, []Cell{text(day.Date), text(c.Currency), integer(day.Trades), integer(day.Wins), integer(day.Losses), money(day.NetPnL)})
		}
	}
	return t
}

// AccountsLine names the accounts the report covers, "all accounts" when
// its filter names none.
func (d *Document) AccountsLine() string {
	if len(d.Accounts) == 0 {
		return "all accounts"
	}
	return strings.Join(d.Accounts, ", ")
}

// TradesTable lists the trades in close order. R is on the report's
// basis, as the summary's expectancy in R: net P&L over initial risk, or
// gross on the gross basis.
func (d *Document) TradesTable() Table {
	t := Table{Name: "Trades", Title: "Trades", Columns: []string{"Closed", "Account", "Symbol", "Side", "Held", "Gross", "Fees", "Net", "R"}}
	zone := d.Zone
	if zone == nil {
		zone = time.UTC
	}
	for _, r := range d.Analysis.Trades {
		var rm decimal.NullDecimal
		if r.InitialRisk.Valid && r.InitialRisk.Amount.Sign() > 0 {
			pnl := r.NetPnL.Decimal()
			if d.Basis == Gross {
				pnl = r.GrossPnL.Decimal()
			}
			rm = null(pnl.DivRound(r.InitialRisk.Amount.Decimal(), Scale))
		}
		t.Rows = append(t.Rows, []Cell{text(r.ClosedAt.In(zone).Format("2006-01-02 15:04")), text(d.Catalog.Accounts[r.AccountID].Name), text(r.Symbol),
			text(string(r.Direction)), text(FormatDuration(r.Holding)), money(r.GrossPnL.Decimal()), money(r.Costs.Decimal()), money(r.NetPnL.Decimal()), nullable(rm, ratio)})
	}
	return t
}

// Tables are every table of the report, in order.
func (d *Document) Tables() []Table {
	out := []Table{d.SummaryTable()}
	for _, dim := range Dimensions {
		if _, ok := d.Analysis.Breakdowns[dim]; ok {
			out = append(out, d.BreakdownTable(dim))
		}
	}
	return append(out, d.CalendarTable(), d.TradesTable())
}
