// Package reportfile renders analytics reports: PDF (codeberg.org/go-pdf/fpdf
// with the Go fonts embedded, charts drawn by gonum.org/v1/plot), CSV
// (encoding/csv) and XLSX (excelize), all showing the tables of
// analytics.Document.Tables. Text cells that a spreadsheet would read as a
// formula are escaped (CSV injection); numbers are written as the exact
// decimals they are.
package reportfile

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/apperr"
)

// Renderer implements analytics.Renderer.
type Renderer struct{}

var _ analytics.Renderer = Renderer{}

// New returns the renderer.
func New() Renderer { return Renderer{} }

// Render implements analytics.Renderer.
func (Renderer) Render(ctx context.Context, doc *analytics.Document, f analytics.Format, w io.Writer) error {
	switch f {
	case analytics.PDF:
		return renderPDF(doc, w)
	case analytics.CSV:
		return renderCSV(doc, w)
	case analytics.XLSX:
		return renderXLSX(doc, w)
	}
	return apperr.New(apperr.Invalid, "report_format_invalid", fmt.Sprintf("unknown report format %q", f))
}

// EscapeFormula makes a text cell inert in spreadsheets: a value starting
// with =, +, -, @, a tab or a carriage return (which Excel, LibreOffice and
// Sheets may evaluate) gets a leading apostrophe (OWASP's advice).
func EscapeFormula(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func cellText(c analytics.Cell) string {
	switch {
	case c.Missing:
		return ""
	case c.Number:
		return c.Text
	}
	return EscapeFormula(c.Text)
}

// renderCSV writes every table one after the other: a title line, the
// header, the rows and an empty line.
func renderCSV(doc *analytics.Document, w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{EscapeFormula(doc.Title), EscapeFormula(doc.Period), "generated " + doc.GeneratedAt.In(orUTC(doc.Zone)).Format("2006-01-02 15:04 MST")}
	if len(doc.Filters) > 0 {
		head = append(head, EscapeFormula("filters: "+strings.Join(doc.Filters, "; ")))
	}
	_ = cw.Write(head)
	for _, t := range doc.Tables() {
		_ = cw.Write(nil)
		_ = cw.Write([]string{EscapeFormula(t.Title)})
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = EscapeFormula(c)
		}
		_ = cw.Write(cols)
		for _, r := range t.Rows {
			rec := make([]string, len(r))
			for i, c := range r {
				rec[i] = cellText(c)
			}
			_ = cw.Write(rec)
		}
	}
	cw.Flush()
	return cw.Error()
}

// aboutSheet is the first sheet of a workbook: what the report covers.
const aboutSheet = "Report"

// renderXLSX writes a first sheet that says what the report covers (its
// title, period, accounts and filter, as the PDF's cover and the CSV's
// first line do), then one sheet per table. Numbers are cells without a
// type holding the decimal's exact text (Excel reads them as numbers);
// text is stored as strings (never formulas) and escaped all the same,
// for the copy-paste into another sheet.
func renderXLSX(doc *analytics.Document, w io.Writer) error {
	x := excelize.NewFile()
	defer func() { _ = x.Close() }()
	bold, err := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	if err := writeAbout(x, doc, bold); err != nil {
		return err
	}
	used := map[string]bool{strings.ToLower(aboutSheet): true}
	for _, t := range doc.Tables() {
		name := sheetName(t.Name, used)
		if _, err := x.NewSheet(name); err != nil {
			return err
		}
		if err := x.SetCellStr(name, "A1", EscapeFormula(t.Title)); err != nil {
			return err
		}
		for i, c := range t.Columns {
			ref, _ := excelize.CoordinatesToCellName(i+1, 2)
			if err := x.SetCellStr(name, ref, EscapeFormula(c)); err != nil {
				return err
			}
		}
		_ = x.SetRowStyle(name, 1, 2, bold)
		for r, row := range t.Rows {
			for i, c := range row {
				ref, _ := excelize.CoordinatesToCellName(i+1, r+3)
				switch {
				case c.Missing:
				case c.Number:
					err = x.SetCellDefault(name, ref, c.Text)
				default:
					err = x.SetCellStr(name, ref, EscapeFormula(c.Text))
				}
				if err != nil {
					return err
				}
			}
		}
		_ = x.SetColWidth(name, "A", "A", 28)
	}
	return x.Write(w)
}

// writeAbout fills the first sheet: one label and value per row, the
// filter's criteria one per row ("none" for the whole book).
func writeAbout(x *excelize.File, doc *analytics.Document, bold int) error {
	if err := x.SetSheetName("Sheet1", aboutSheet); err != nil {
		return err
	}
	filters := doc.Filters
	if len(filters) == 0 {
		filters = []string{"none: every trade of the period"}
	}
	rows := [][2]string{{doc.Title, ""}, {"Period", doc.Period}, {"Generated", doc.GeneratedAt.In(orUTC(doc.Zone)).Format("2006-01-02 15:04 MST")},
		{"Accounts", doc.AccountsLine()}}
	for i, f := range filters {
		label := ""
		if i == 0 {
			label = "Filters"
		}
		rows = append(rows, [2]string{label, f})
	}
	for r, row := range rows {
		for c, v := range row {
			ref, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if err := x.SetCellStr(aboutSheet, ref, EscapeFormula(v)); err != nil {
				return err
			}
		}
	}
	_ = x.SetRowStyle(aboutSheet, 1, 1, bold)
	_ = x.SetColWidth(aboutSheet, "A", "A", 14)
	return x.SetColWidth(aboutSheet, "B", "B", 60)
}

// sheetName makes a valid, unique sheet name (at most 31 characters, none
// of : \ / ? * [ ]).
func sheetName(s string, used map[string]bool) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) {
			return '_'
		}
		return r
	}, s)
	if len(s) > 28 {
		s = s[:28]
	}
	name := s
	for i := 2; used[strings.ToLower(name)]; i++ {
		name = fmt.Sprintf("%s %d", s, i)
	}
	used[strings.ToLower(name)] = true
	return name
}
