package tests

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/tradesense/tradesense/adapters/reportfile"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/analytics/analyticstest"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// goldenDocument seeds the golden set on SQLite (tags and playbooks with
// their real names) and returns the document of a report over f.
func goldenDocument(t *testing.T, f trading.Filter, period string) (*analytics.Document, *analyticstest.Golden) {
	t.Helper()
	ctx := context.Background()
	db := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "reports.db"))
	tags, playbooks := sqlstore.NewTags(db), sqlstore.NewPlaybooks(db)
	now := time.Now().UTC()
	st := sqlStores(db)
	st.NewTag = func(t testing.TB, u uuid.UUID) uuid.UUID {
		tag := &journal.Tag{ID: uuid.New(), UserID: u, Name: uuid.NewString(), Kind: journal.Setup, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := tags.Create(ctx, tag); err != nil {
			t.Fatal(err)
		}
		return tag.ID
	}
	st.NewPlaybook = func(t testing.TB, u uuid.UUID, n int) (uuid.UUID, []uuid.UUID) {
		pb := &journal.Playbook{ID: uuid.New(), UserID: u, Name: uuid.NewString(), Version: 1, CreatedAt: now, UpdatedAt: now}
		var ids []uuid.UUID
		for range n {
			r := journal.Rule{ID: uuid.New(), Text: "rule"}
			pb.Rules, ids = append(pb.Rules, r), append(ids, r.ID)
		}
		if err := playbooks.Create(ctx, pb); err != nil {
			t.Fatal(err)
		}
		return pb.ID, ids
	}
	te := tradingtest.NewEnv(t, st)
	g := analyticstest.Seed(t, te)
	for name, id := range g.Tags {
		tag, err := tags.Get(ctx, g.User, id)
		if err != nil {
			t.Fatal(err)
		}
		tag.Name, tag.Version = name, tag.Version+1
		if err := tags.Update(ctx, tag); err != nil {
			t.Fatal(err)
		}
	}
	for name, id := range g.Playbooks {
		pb, err := playbooks.Get(ctx, g.User, id)
		if err != nil {
			t.Fatal(err)
		}
		pb.Name, pb.Version = name, pb.Version+1
		if err := playbooks.Update(ctx, pb); err != nil {
			t.Fatal(err)
		}
	}
	src := sqlstore.NewAnalyticsSource(db)
	svc, err := analytics.NewService(analytics.DefaultConfig(), analytics.Deps{Trading: te.Svc, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Analyse(ctx, g.User, analytics.Query{Filter: f}, analytics.Dimensions)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := src.Catalog(ctx, g.User)
	if err != nil {
		t.Fatal(err)
	}
	doc := &analytics.Document{Title: "Weekly performance report", Period: period, Accounts: []string{"US Main", "US Futures", "Zürich Swing €"},
		GeneratedAt: time.Date(2026, 5, 11, 7, 0, 3, 0, g.Zone), Zone: g.Zone, Basis: analytics.Net,
		DefinitionsURL: "https://tradesense.app/docs/analytics", Analysis: a, Catalog: cat}
	return doc, g
}

// shown is an amount as the report prints it: exact, two places at least.
func shown(d decimal.Decimal) string {
	if d.Exponent() < -2 {
		return d.String()
	}
	return d.StringFixed(2)
}

func render(t *testing.T, doc *analytics.Document, f analytics.Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := reportfile.New().Render(context.Background(), doc, f, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tool returns the path of a poppler tool; CI must have it (.ci/run
// installs poppler-utils).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("%s is not installed; CI installs poppler-utils", name)
		}
		t.Skipf("%s is not installed (apt-get install poppler-utils)", name)
	}
	return p
}

// TestReportPDF renders the golden set's report for the week of 4 May
// 2026 plus the whole history, extracts its text with pdftotext, and finds
// the key figures, Unicode names and a sane page count; a page renders to
// PNG. With REPORT_PNG_DIR set, the title and summary pages are written
// there (docs/report-weekly-*.png were made so).
func TestReportPDF(t *testing.T) {
	pdftotext, pdftoppm := tool(t, "pdftotext"), tool(t, "pdftoppm")
	doc, _ := goldenDocument(t, trading.Filter{}, "1 January – 31 December 2026")
	pdf := render(t, doc, analytics.PDF)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	txt := string(out)
	for _, s := range doc.Analysis.Summaries {
		for _, want := range []string{shown(s.NetPnL), s.ProfitFactor.Decimal.StringFixed(4), s.WinRate.Decimal.StringFixed(4),
			s.MaxDrawdown.String(), s.Sharpe.Decimal.StringFixed(4)} {
			w := strings.TrimPrefix(want, "-")
			if !strings.Contains(txt, w) {
				t.Errorf("%s: %q is not in the PDF's text", s.Currency, w)
			}
		}
	}
	for _, want := range []string{"Weekly performance report", "Zürich Swing €", "Überhandelt", "Δ-neutral", "Opening Range Breakout",
		"By symbol", "By hour of entry", "Calendar", "Trades", "https://tradesense.app/docs/analytics", "America/New_York", "BTC-USD",
		"Filters", "none: every trade of the period"} {
		if !strings.Contains(txt, want) {
			t.Errorf("%q is not in the PDF's text", want)
		}
	}
	info, err := exec.Command(filepath.Join(filepath.Dir(pdftotext), "pdfinfo"), file).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	m := regexp.MustCompile(`Pages:\s+(\d+)`).FindSubmatch(info)
	pages, _ := strconv.Atoi(string(m[1]))
	// 249 trades at ~45 a page, 10 breakdowns, the calendar, the charts.
	if pages < 8 || pages > 40 {
		t.Errorf("%d pages", pages)
	}
	if out, err := exec.Command(pdftoppm, "-png", "-r", "60", "-f", "2", "-l", "2", file, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pngs) != 1 {
		t.Fatalf("pdftoppm wrote %v", pngs)
	}
	if st, err := os.Stat(pngs[0]); err != nil || st.Size() < 10_000 {
		t.Fatalf("page PNG %v %v: too small to show anything", st, err)
	}
	if out := os.Getenv("REPORT_PNG_DIR"); out != "" {
		_ = os.WriteFile(filepath.Join(out, "report-full.pdf"), pdf, 0o600)
		week, _ := goldenDocument(t, trading.Filter{From: trading.Date{Year: 2026, Month: 3, Day: 2}, To: trading.Date{Year: 2026, Month: 3, Day: 8}},
			"Week of Monday 2 March 2026")
		wf := filepath.Join(out, "report-weekly.pdf")
		if err := os.WriteFile(wf, render(t, week, analytics.PDF), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(pdftoppm, "-png", "-r", "80", wf, filepath.Join(out, "report-weekly")).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v %s", err, b)
		}
	}
}

// TestReportCSVAndXLSX: the same tables, formulas escaped, numbers exact.
func TestReportCSVAndXLSX(t *testing.T) {
	doc, _ := goldenDocument(t, trading.Filter{}, "2026")
	// A name that a spreadsheet would run as a formula.
	for id, a := range doc.Catalog.Accounts {
		if a.Name == "US Futures" {
			a.Name = "=HYPERLINK(\"http://evil.example\",\"x\")"
			doc.Catalog.Accounts[id] = a
		}
	}
	doc.Filters = []string{"symbol AAPL, MSFT", "tag =cmd"}
	// The service stamps the time in UTC; every format shows it in the
	// report's zone, as the PDF does.
	doc.GeneratedAt = doc.GeneratedAt.UTC()
	generated := doc.GeneratedAt.In(doc.Zone).Format("2006-01-02 15:04 MST")
	tables := doc.Tables()
	recs, err := csv.NewReader(bytes.NewReader(render(t, doc, analytics.CSV))).ReadAll()
	if err == nil {
		// Records have different lengths: read again leniently.
		_ = recs
	}
	r := csv.NewReader(bytes.NewReader(render(t, doc, analytics.CSV)))
	r.FieldsPerRecord = -1
	recs, err = r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if head := recs[0]; len(head) != 4 || head[3] != "filters: symbol AAPL, MSFT; tag =cmd" || head[2] != "generated "+generated {
		t.Fatalf("the CSV's first line %q does not state the filter and the generation time in the report's zone (%s)", head, generated)
	}
	joined := map[string]bool{}
	for _, rec := range recs {
		for _, v := range rec {
			if strings.HasPrefix(v, "=") || strings.HasPrefix(v, "+") || strings.HasPrefix(v, "@") {
				t.Errorf("CSV cell %q would run as a formula", v)
			}
			joined[v] = true
		}
	}
	if !joined[`'=HYPERLINK("http://evil.example","x")`] {
		t.Error("the formula-looking account name is not in the CSV, escaped")
	}
	s := doc.Analysis.Summaries[1] // USD
	if !joined[shown(s.NetPnL)] || !joined[s.ProfitFactor.Decimal.StringFixed(4)] {
		t.Errorf("the USD net P&L %s or profit factor %s is not in the CSV", s.NetPnL, s.ProfitFactor.Decimal)
	}
	x, err := excelize.OpenReader(bytes.NewReader(render(t, doc, analytics.XLSX)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = x.Close() }()
	if sheets := x.GetSheetList(); len(sheets) != len(tables)+1 || sheets[0] != "Report" {
		t.Fatalf("%d sheets for %d tables and the Report sheet: %v", len(sheets), len(tables), sheets)
	}
	// The first sheet states what the workbook covers, its filter included.
	about, err := x.GetRows("Report")
	if err != nil {
		t.Fatal(err)
	}
	var stated []string
	for _, row := range about {
		if len(row) == 2 {
			stated = append(stated, row[0]+"|"+row[1])
		}
	}
	for _, want := range []string{"Period|" + doc.Period, "Generated|" + generated, "Accounts|" + strings.Join(doc.Accounts, ", "), "Filters|symbol AAPL, MSFT", "|tag =cmd"} {
		if !slices.Contains(stated, want) {
			t.Errorf("the Report sheet does not state %q: %q", want, stated)
		}
	}
	rows, err := x.GetRows("Trades")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(doc.Analysis.Trades)+2 {
		t.Errorf("Trades sheet has %d rows for %d trades", len(rows), len(doc.Analysis.Trades))
	}
	for _, row := range rows {
		for _, v := range row {
			if strings.HasPrefix(v, "=") {
				t.Errorf("XLSX cell %q", v)
			}
		}
	}
	// A number is stored as its exact decimal text.
	sum, err := x.GetRows("Summary")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, row := range sum {
		if len(row) > 2 && row[0] == "Net P&L" && row[2] == shown(s.NetPnL) {
			found = true
		}
	}
	if !found {
		t.Errorf("Summary sheet has no Net P&L of %s: %v", shown(s.NetPnL), sum)
	}
}

// TestReportPDFStructure renders the golden report without the poppler
// tools (a machine with only Go runs it too): a complete PDF document, a
// page count in the range of TestReportPDF's and every page with content.
// It does not ask for the same bytes for the same document: fpdf v0.11.1
// writes its images in map order, and SetCatalogSort sorts them only by
// width, which every chart shares (checked: two renders differ in the
// order of their image objects).
func TestReportPDFStructure(t *testing.T) {
	doc, _ := goldenDocument(t, trading.Filter{}, "1 January – 31 December 2026")
	pdf := render(t, doc, analytics.PDF)
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.")) || !bytes.HasSuffix(bytes.TrimSpace(pdf), []byte("%%EOF")) {
		t.Fatalf("not a complete PDF: %q … %q", pdf[:min(16, len(pdf))], pdf[max(0, len(pdf)-16):])
	}
	pages := len(regexp.MustCompile(`/Type /Page\b[^s]`).FindAll(pdf, -1))
	if pages < 8 || pages > 40 {
		t.Errorf("%d pages", pages)
	}
	if n := bytes.Count(pdf, []byte("/Contents ")); n != pages {
		t.Errorf("%d pages but %d content streams", pages, n)
	}
	// An empty period still renders a document (a title and a summary).
	empty, _ := goldenDocument(t, trading.Filter{From: trading.Date{Year: 2031, Month: 1, Day: 1}, To: trading.Date{Year: 2031, Month: 1, Day: 7}}, "An empty week")
	if small := render(t, empty, analytics.PDF); !bytes.HasPrefix(small, []byte("%PDF-1.")) || len(small) >= len(pdf) {
		t.Errorf("empty report: %d bytes (full: %d)", len(small), len(pdf))
	}
}

// TestReportTradesTableFollowsTheBasis: on the gross basis a trade's R in
// the trades table is gross P&L over its initial risk, as the summary's
// expectancy in R counts it; the Report sheet of a report over every
// account says so.
func TestReportTradesTableFollowsTheBasis(t *testing.T) {
	doc, _ := goldenDocument(t, trading.Filter{}, "2026")
	for _, basis := range []analytics.Basis{analytics.Net, analytics.Gross} {
		doc.Basis = basis
		table := doc.TradesTable()
		checked := 0
		for i, r := range doc.Analysis.Trades {
			if !r.InitialRisk.Valid || r.InitialRisk.Amount.Sign() <= 0 || r.GrossPnL.Decimal().Equal(r.NetPnL.Decimal()) {
				continue
			}
			pnl := r.NetPnL.Decimal()
			if basis == analytics.Gross {
				pnl = r.GrossPnL.Decimal()
			}
			want := pnl.DivRound(r.InitialRisk.Amount.Decimal(), analytics.Scale).StringFixed(analytics.Scale)
			if got := table.Rows[i][8].Text; got != want {
				t.Fatalf("%s basis: trade %d's R %s, want %s", basis, i, got, want)
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("no trade with a risk and fees in the golden set")
		}
	}
	doc.Accounts = nil
	x, err := excelize.OpenReader(bytes.NewReader(render(t, doc, analytics.XLSX)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = x.Close() }()
	about, err := x.GetRows("Report")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, row := range about {
		found = found || len(row) == 2 && row[0] == "Accounts" && row[1] == "all accounts"
	}
	if !found {
		t.Fatalf("the Report sheet of a report over every account: %q; want Accounts all accounts", about)
	}
}
