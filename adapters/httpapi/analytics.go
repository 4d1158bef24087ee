package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// Analytics computes the figures (*analytics.Service).
type Analytics interface {
	// SummaryEncoded is the summary in the bytes enc makes of it, which
	// the service may keep and share (see analytics.Service): the
	// handler writes them and never modifies them.
	SummaryEncoded(ctx context.Context, userID uuid.UUID, q analytics.Query, enc analytics.Encoding[[]analytics.Summary]) ([]byte, error)
	Equity(ctx context.Context, userID uuid.UUID, q analytics.Query, perTrade bool) ([]analytics.Equity, error)
	Drawdown(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Drawdown, error)
	Calendar(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Calendar, error)
	Breakdown(ctx context.Context, userID uuid.UUID, q analytics.Query, by analytics.Dimension) ([]analytics.Group, error)
	Distribution(ctx context.Context, userID uuid.UUID, q analytics.Query, of string) ([]analytics.Distribution, error)
	Streaks(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Streaks, error)
}

// Reports requests and serves report files (*analytics.Reporter). Every
// method is scoped to the user: another user's report is NotFound.
type Reports interface {
	Request(ctx context.Context, userID uuid.UUID, in analytics.ReportRequest) (*analytics.Report, error)
	Get(ctx context.Context, userID, id uuid.UUID) (*analytics.Report, error)
	Open(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *analytics.Report, error)
	List(ctx context.Context, userID uuid.UUID, after analytics.ReportCursor, limit int) ([]analytics.Report, error)
	Delete(ctx context.Context, userID, id uuid.UUID) error
	GetSchedule(ctx context.Context, userID uuid.UUID) (*analytics.Schedule, error)
	PutSchedule(ctx context.Context, userID uuid.UUID, weekly, monthly bool) (*analytics.Schedule, error)
}

// analyticsHandlers serve /api/v1/analytics and /api/v1/reports.
type analyticsHandlers struct {
	figures Analytics
	reports Reports
}

// analyticsQuery reads the trade filter of the query (the trade list's
// parser) and the basis.
func analyticsQuery(ctx context.Context, basis *string) (uuid.UUID, analytics.Query, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return uuid.Nil, analytics.Query{}, err
	}
	f, errs := parseTradeFilter(rawQuery(ctx))
	if errs != nil {
		return uuid.Nil, analytics.Query{}, filterError(errs)
	}
	q := analytics.Query{Filter: f}
	if basis != nil {
		q.Basis = analytics.Basis(*basis)
	}
	return p.UserID, q, nil
}

func strPtrOf[T ~string](v *T) *string {
	if v == nil {
		return nil
	}
	s := string(*v)
	return &s
}

func decStr(d decimal.NullDecimal) *string {
	if !d.Valid {
		return nil
	}
	s := d.Decimal.String()
	return &s
}

func secondsOf(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	s := int64(d.Round(time.Second) / time.Second)
	return &s
}

func statsBody(s analytics.Stats) gen.AnalyticsStats {
	return gen.AnalyticsStats{Count: s.Count, Wins: s.Wins, Losses: s.Losses, Breakevens: s.Breakevens, WinRate: decStr(s.WinRate),
		GrossPnl: s.GrossPnL.String(), Fees: s.Fees.String(), NetPnl: s.NetPnL.String(), ProfitFactor: decStr(s.ProfitFactor), Expectancy: decStr(s.Expectancy)}
}

func streakBody(s analytics.Streak) gen.AnalyticsStreak {
	return gen.AnalyticsStreak{Outcome: string(s.Outcome), Length: s.Length}
}

func nulls(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func summaryBody(s *analytics.Summary) gen.AnalyticsSummary {
	return gen.AnalyticsSummary{
		Currency: s.Currency, Basis: gen.AnalyticsSummaryBasis(s.Basis),
		TradeCount: s.Count, Wins: s.Wins, Losses: s.Losses, Breakevens: s.Breakevens, WinRate: decStr(s.WinRate),
		GrossPnl: s.GrossPnL.String(), Fees: s.Fees.String(), NetPnl: s.NetPnL.String(),
		AvgWin: decStr(s.AvgWin), AvgLoss: decStr(s.AvgLoss), LargestWin: decStr(s.LargestWin), LargestLoss: decStr(s.LargestLoss),
		PayoffRatio: decStr(s.PayoffRatio), ProfitFactor: decStr(s.ProfitFactor), Expectancy: decStr(s.Expectancy),
		ExpectancyR: decStr(s.ExpectancyR), RCount: s.RCount, Sqn: decStr(s.SQN), SqnReliable: s.SQNReliable,
		MaxDrawdown: s.MaxDrawdown.String(), MaxDrawdownPct: decStr(s.MaxDrawdownPct), RecoveryFactor: decStr(s.RecoveryFactor),
		Sharpe: decStr(s.Sharpe), Sortino: decStr(s.Sortino), TradingDays: s.TradingDays,
		MaxConsecutiveWins: s.MaxConsecutiveWins, MaxConsecutiveLosses: s.MaxConsecutiveLosses, CurrentStreak: streakBody(s.CurrentStreak),
		AvgHoldSeconds: secondsOf(s.AvgHold), AvgHoldWinSeconds: secondsOf(s.AvgHoldWin), AvgHoldLossSeconds: secondsOf(s.AvgHoldLoss),
		Kelly: decStr(s.Kelly), Long: statsBody(s.Long), Short: statsBody(s.Short), StartingBalance: decStr(s.StartingBalance),
		NullReasons: nulls(s.Nulls),
	}
}

// GetAnalyticsSummary implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsSummary(ctx context.Context, req gen.GetAnalyticsSummaryRequestObject) (gen.GetAnalyticsSummaryResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	body, err := h.figures.SummaryEncoded(ctx, user, q, summaryJSON)
	if err != nil {
		return nil, err
	}
	return rawJSON(body), nil
}

// summaryJSON is the 200 answer of GetAnalyticsSummary as the generated
// GetAnalyticsSummary200JSONResponse writes it (encoding/json, with its
// trailing newline): the service keeps these bytes per user, data
// version and filter, so that a warm request neither decodes the cached
// figure nor encodes the answer. TestSummaryJSONMatchesGenerated holds
// the bytes equal.
var summaryJSON = analytics.Encoding[[]analytics.Summary]{Name: "httpapi-summary-json", Encode: func(sums []analytics.Summary) ([]byte, error) {
	out := gen.GetAnalyticsSummary200JSONResponse{ByCurrency: make([]gen.AnalyticsSummary, len(sums))}
	for i := range sums {
		out.ByCurrency[i] = summaryBody(&sums[i])
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}}

// rawJSON is a 200 answer whose body is encoded already: it is written as
// the generated JSON answers write theirs (Content-Type, status, body).
type rawJSON []byte

func (r rawJSON) VisitGetAnalyticsSummaryResponse(w http.ResponseWriter) error { return r.write(w) }

func (r rawJSON) VisitListTradesResponse(w http.ResponseWriter) error { return r.write(w) }

// write sends the bytes with their length, so that net/http writes them
// as they are instead of in chunks (a page of trades is ≈ 30 KB).
func (r rawJSON) write(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(r)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(r)
	return err
}

func dateOf(s string) openapi_types.Date {
	t, _ := time.Parse(time.DateOnly, s) // the engine's own YYYY-MM-DD
	return openapi_types.Date{Time: t}
}

// GetAnalyticsEquity implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsEquity(ctx context.Context, req gen.GetAnalyticsEquityRequestObject) (gen.GetAnalyticsEquityResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	perTrade := req.Params.PerTrade != nil && *req.Params.PerTrade
	curves, err := h.figures.Equity(ctx, user, q, perTrade)
	if err != nil {
		return nil, err
	}
	out := gen.GetAnalyticsEquity200JSONResponse{ByCurrency: make([]gen.AnalyticsEquity, len(curves))}
	for i, c := range curves {
		e := gen.AnalyticsEquity{Currency: c.Currency, Basis: gen.AnalyticsEquityBasis(c.Basis), StartingBalance: decStr(c.StartingBalance),
			ByDay: make([]gen.AnalyticsDayPoint, len(c.ByDay))}
		for j, d := range c.ByDay {
			e.ByDay[j] = gen.AnalyticsDayPoint{Date: dateOf(d.Date), Trades: d.Trades, Pnl: d.PnL.String(), Equity: d.Equity.String(), Drawdown: d.Drawdown.String()}
		}
		if perTrade {
			pts := make([]gen.AnalyticsTradePoint, len(c.ByTrade))
			for j, p := range c.ByTrade {
				pts[j] = gen.AnalyticsTradePoint{At: p.At.UTC(), TradeId: p.TradeID, Pnl: p.PnL.String(), Equity: p.Equity.String(), Drawdown: p.Drawdown.String()}
			}
			e.ByTrade = &pts
		}
		out.ByCurrency[i] = e
	}
	return out, nil
}

func periodBody(p *analytics.DrawdownPeriod) gen.AnalyticsDrawdownPeriod {
	out := gen.AnalyticsDrawdownPeriod{PeakAt: p.PeakAt.UTC(), Peak: p.Peak.String(), TroughAt: p.TroughAt.UTC(), Trough: p.Trough.String(),
		Depth: p.Depth.String(), DepthPct: decStr(p.DepthPct), Trades: p.Trades}
	if p.RecoveredAt != nil {
		t := p.RecoveredAt.UTC()
		out.RecoveredAt = &t
	}
	return out
}

// GetAnalyticsDrawdown implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsDrawdown(ctx context.Context, req gen.GetAnalyticsDrawdownRequestObject) (gen.GetAnalyticsDrawdownResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	dds, err := h.figures.Drawdown(ctx, user, q)
	if err != nil {
		return nil, err
	}
	out := gen.GetAnalyticsDrawdown200JSONResponse{ByCurrency: make([]gen.AnalyticsDrawdown, len(dds))}
	for i, d := range dds {
		b := gen.AnalyticsDrawdown{Currency: d.Currency, Basis: gen.AnalyticsDrawdownBasis(d.Basis), MaxDrawdown: d.MaxDrawdown.String(),
			MaxDrawdownPct: decStr(d.MaxDrawdownPct), TimeToTroughSeconds: secondsOf(d.TimeToTrough), RecoverySeconds: secondsOf(d.Recovery),
			DurationSeconds: secondsOf(d.Duration), LongestSeconds: *secondsOf(&d.Longest), RecoveryFactor: decStr(d.RecoveryFactor),
			Periods: make([]gen.AnalyticsDrawdownPeriod, len(d.Periods)), NullReasons: nulls(d.Nulls)}
		if d.Max != nil {
			m := periodBody(d.Max)
			b.Max = &m
		}
		for j := range d.Periods {
			b.Periods[j] = periodBody(&d.Periods[j])
		}
		out.ByCurrency[i] = b
	}
	return out, nil
}

// CodeCalendarRange is the code of a calendar query that gives month or
// year together with from or to.
const CodeCalendarRange = "analytics_calendar_range"

// GetAnalyticsCalendar implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsCalendar(ctx context.Context, req gen.GetAnalyticsCalendarRequestObject) (gen.GetAnalyticsCalendarResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	rangeErr := func(field, msg string) error {
		e := apperr.Validation("invalid calendar range", map[string]string{field: msg})
		e.Code = CodeCalendarRange
		return e
	}
	if req.Params.Month != nil || req.Params.Year != nil {
		switch {
		case req.Params.Month != nil && req.Params.Year != nil:
			return nil, rangeErr("month", "give month or year, not both")
		case !q.Filter.From.IsZero() || !q.Filter.To.IsZero():
			return nil, rangeErr("month", "month and year replace from and to: give one or the other")
		}
		if req.Params.Month != nil {
			t, err := time.Parse("2006-01", *req.Params.Month)
			if err != nil {
				return nil, rangeErr("month", "must be a month in the form 2026-05")
			}
			q.Filter.From = trading.DateOf(t)
			q.Filter.To = trading.DateOf(t.AddDate(0, 1, -1))
		} else {
			y := *req.Params.Year
			q.Filter.From, q.Filter.To = trading.Date{Year: y, Month: time.January, Day: 1}, trading.Date{Year: y, Month: time.December, Day: 31}
		}
	}
	cals, err := h.figures.Calendar(ctx, user, q)
	if err != nil {
		return nil, err
	}
	out := gen.GetAnalyticsCalendar200JSONResponse{ByCurrency: make([]gen.AnalyticsCalendar, len(cals))}
	for i, c := range cals {
		b := gen.AnalyticsCalendar{Currency: c.Currency, Basis: gen.AnalyticsCalendarBasis(c.Basis), Days: make([]gen.AnalyticsCalendarDay, len(c.Days))}
		for j, d := range c.Days {
			b.Days[j] = gen.AnalyticsCalendarDay{Date: dateOf(d.Date), Trades: d.Trades, Wins: d.Wins, Losses: d.Losses, Breakevens: d.Breakevens,
				GrossPnl: d.GrossPnL.String(), Fees: d.Fees.String(), NetPnl: d.NetPnL.String()}
		}
		out.ByCurrency[i] = b
	}
	return out, nil
}

// GetAnalyticsBreakdown implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsBreakdown(ctx context.Context, req gen.GetAnalyticsBreakdownRequestObject) (gen.GetAnalyticsBreakdownResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	rows, err := h.figures.Breakdown(ctx, user, q, analytics.Dimension(req.Params.By))
	if err != nil {
		return nil, err
	}
	out := gen.GetAnalyticsBreakdown200JSONResponse{By: string(req.Params.By), Rows: make([]gen.AnalyticsGroup, len(rows))}
	for i, g := range rows {
		out.Rows[i] = gen.AnalyticsGroup{Key: g.Key, Label: g.Label, Currency: g.Currency, Count: g.Count, Wins: g.Wins, Losses: g.Losses,
			Breakevens: g.Breakevens, WinRate: decStr(g.WinRate), GrossPnl: g.GrossPnL.String(), Fees: g.Fees.String(), NetPnl: g.NetPnL.String(),
			ProfitFactor: decStr(g.ProfitFactor), Expectancy: decStr(g.Expectancy)}
	}
	return out, nil
}

// GetAnalyticsDistribution implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsDistribution(ctx context.Context, req gen.GetAnalyticsDistributionRequestObject) (gen.GetAnalyticsDistributionResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	ds, err := h.figures.Distribution(ctx, user, q, string(req.Params.Of))
	if err != nil {
		return nil, err
	}
	out := gen.GetAnalyticsDistribution200JSONResponse{ByCurrency: make([]gen.AnalyticsDistribution, len(ds))}
	for i, d := range ds {
		b := gen.AnalyticsDistribution{Currency: d.Currency, Basis: gen.AnalyticsDistributionBasis(d.Basis), Of: gen.AnalyticsDistributionOf(d.Of),
			Count: d.Count, Buckets: make([]gen.AnalyticsBucket, len(d.Buckets))}
		for j, k := range d.Buckets {
			b.Buckets[j] = gen.AnalyticsBucket{Key: k.Key, Lower: decStr(k.Lower), Upper: decStr(k.Upper), Count: k.Count, Wins: k.Wins, Losses: k.Losses, Pnl: k.PnL.String()}
		}
		out.ByCurrency[i] = b
	}
	return out, nil
}

// GetAnalyticsStreaks implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetAnalyticsStreaks(ctx context.Context, req gen.GetAnalyticsStreaksRequestObject) (gen.GetAnalyticsStreaksResponseObject, error) {
	user, q, err := analyticsQuery(ctx, strPtrOf(req.Params.Basis))
	if err != nil {
		return nil, err
	}
	ss, err := h.figures.Streaks(ctx, user, q)
	if err != nil {
		return nil, err
	}
	runs := func(rs []analytics.RunCount) []gen.AnalyticsRunCount {
		out := make([]gen.AnalyticsRunCount, len(rs))
		for i, r := range rs {
			out[i] = gen.AnalyticsRunCount{Length: r.Length, Count: r.Count}
		}
		return out
	}
	out := gen.GetAnalyticsStreaks200JSONResponse{ByCurrency: make([]gen.AnalyticsStreaks, len(ss))}
	for i, s := range ss {
		out.ByCurrency[i] = gen.AnalyticsStreaks{Currency: s.Currency, Basis: gen.AnalyticsStreaksBasis(s.Basis), MaxConsecutiveWins: s.MaxConsecutiveWins,
			MaxConsecutiveLosses: s.MaxConsecutiveLosses, Current: streakBody(s.Current), WinRuns: runs(s.WinRuns), LossRuns: runs(s.LossRuns)}
	}
	return out, nil
}

// ---- reports

// reportFilterParams are the trade filter parameters a report's filters
// may name: the trade list's, but the dates (the report's period) and
// the status (closed only).
var reportFilterParams = map[string]bool{
	qAccountID: true, qSymbol: true, qAssetClass: true, qDirection: true, qOutcome: true, qBreakevenBand: true,
	qTagID: true, qTagMode: true, qPlaybookID: true, qWeekday: true, qHour: true, qMinHolding: true, qMaxHolding: true,
	qMinNetPnL: true, qMaxNetPnL: true, qMinR: true, qMaxR: true,
}

// reportFilter reads a report request's filters (each a string or a list
// of strings) with the trade list's parser. Field errors are keyed
// filters.<name> and never echo the value.
func reportFilter(in *map[string]any) (trading.Filter, error) {
	if in == nil {
		return trading.Filter{}, nil
	}
	vals := url.Values{}
	errs := map[string]string{}
	for name, v := range *in {
		if !reportFilterParams[name] {
			errs["filters."+name] = "not a trade filter parameter a report takes (the period gives the dates; reports cover closed trades)"
			continue
		}
		// An empty value is refused, as the trade list's query refuses
		// one: it must not read as "every trade".
		const empty = "must not be empty: leave the filter out to take every trade"
		switch x := v.(type) {
		case string:
			if x == "" {
				errs["filters."+name] = empty
			}
			vals.Add(name, x)
		case []any:
			if len(x) == 0 {
				errs["filters."+name] = empty
			}
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					errs["filters."+name] = "must be a string or a list of strings"
					break
				}
				if s == "" {
					errs["filters."+name] = empty
				}
				vals.Add(name, s)
			}
		default:
			errs["filters."+name] = "must be a string or a list of strings"
		}
	}
	if len(errs) > 0 {
		return trading.Filter{}, filterError(errs)
	}
	f, ferrs := parseTradeFilter(vals)
	if ferrs != nil {
		prefixed := make(map[string]string, len(ferrs))
		for k, m := range ferrs {
			prefixed["filters."+k] = m
		}
		return trading.Filter{}, filterError(prefixed)
	}
	return f, nil
}

func reportBody(r *analytics.Report) gen.Report {
	out := gen.Report{Id: r.ID, State: gen.ReportState(r.State), Format: gen.ReportFormat(r.Format), Period: gen.ReportPeriod(r.Period),
		From: openapi_types.Date{Time: r.From.Start(time.UTC)}, To: openapi_types.Date{Time: r.To.Start(time.UTC)},
		Basis: gen.ReportBasis(r.Basis), Scheduled: r.ScheduleKey != "", CreatedAt: r.CreatedAt.UTC()}
	if q := tradeFilterQuery(r.ChosenFilter()); len(q) > 0 {
		f := make(map[string]string, len(q))
		for k := range q {
			f[k] = q.Get(k)
		}
		out.Filters = &f
	}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt.UTC()
		out.FinishedAt = &t
	}
	if r.State == analytics.ReportReady {
		t, size, u := r.ExpiresAt.UTC(), r.Size, "/api/v1/reports/"+r.ID.String()+"/file"
		out.ExpiresAt, out.Size, out.FileUrl = &t, &size, &u
	}
	if r.State == analytics.ReportFailed && r.Error != "" {
		e := r.Error
		out.Error = &e
	}
	return out
}

// RequestReport implements gen.StrictServerInterface.
func (h *analyticsHandlers) RequestReport(ctx context.Context, req gen.RequestReportRequestObject) (gen.RequestReportResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if req.Body == nil {
		return nil, apperr.Validation("a report request is required", map[string]string{"body": "required"})
	}
	b := req.Body
	f, err := reportFilter(b.Filters)
	if err != nil {
		return nil, err
	}
	in := analytics.ReportRequest{Filter: f}
	if b.Period != nil {
		in.Period = analytics.Period(*b.Period)
	}
	if b.From != nil {
		in.From = trading.DateOf(b.From.Time)
	}
	if b.To != nil {
		in.To = trading.DateOf(b.To.Time)
	}
	if b.Format != nil {
		in.Format = analytics.Format(*b.Format)
	}
	if b.Basis != nil {
		in.Basis = analytics.Basis(*b.Basis)
	}
	rep, err := h.reports.Request(ctx, p.UserID, in)
	if err != nil {
		return nil, err
	}
	return gen.RequestReport202JSONResponse(reportBody(rep)), nil
}

// GetReport implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetReport(ctx context.Context, req gen.GetReportRequestObject) (gen.GetReportResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := h.reports.Get(ctx, p.UserID, req.Id)
	if err != nil {
		return nil, err
	}
	return gen.GetReport200JSONResponse(reportBody(rep)), nil
}

// reportCursor encodes a page's end as an opaque token.
func reportCursor(c analytics.ReportCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID.String()))
}

func parseReportCursor(s string) (analytics.ReportCursor, error) {
	bad := apperr.Validation("invalid cursor", map[string]string{"cursor": "not a cursor of this list: pass next_cursor as it came"})
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return analytics.ReportCursor{}, bad
	}
	at, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return analytics.ReportCursor{}, bad
	}
	t, err1 := time.Parse(time.RFC3339Nano, at)
	u, err2 := uuid.Parse(id)
	if err1 != nil || err2 != nil || t.IsZero() {
		return analytics.ReportCursor{}, bad
	}
	return analytics.ReportCursor{CreatedAt: t, ID: u}, nil
}

// ListReports implements gen.StrictServerInterface.
func (h *analyticsHandlers) ListReports(ctx context.Context, req gen.ListReportsRequestObject) (gen.ListReportsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	limit := 50
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	var after analytics.ReportCursor
	if req.Params.Cursor != nil {
		if after, err = parseReportCursor(*req.Params.Cursor); err != nil {
			return nil, err
		}
	}
	reps, err := h.reports.List(ctx, p.UserID, after, limit)
	if err != nil {
		return nil, err
	}
	out := gen.ListReports200JSONResponse{Items: bodies(reps, reportBody)}
	if len(reps) == limit {
		next := reportCursor(analytics.CursorOf(&reps[len(reps)-1]))
		out.NextCursor = &next
	}
	return out, nil
}

// DeleteReport implements gen.StrictServerInterface.
func (h *analyticsHandlers) DeleteReport(ctx context.Context, req gen.DeleteReportRequestObject) (gen.DeleteReportResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.reports.Delete(ctx, p.UserID, req.Id); err != nil {
		return nil, err
	}
	return gen.DeleteReport204Response{}, nil
}

// GetReportFile implements gen.StrictServerInterface. The generated
// response closes the file after copying it.
func (h *analyticsHandlers) GetReportFile(ctx context.Context, req gen.GetReportFileRequestObject) (gen.GetReportFileResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	rc, rep, err := h.reports.Open(ctx, p.UserID, req.Id)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("tradesense-report-%s-%s.%s", rep.From, rep.To, rep.Format)
	hdr := gen.GetReportFile200ResponseHeaders{ContentDisposition: `attachment; filename="` + strings.ReplaceAll(name, `"`, "") + `"`}
	switch rep.Format {
	case analytics.CSV:
		return gen.GetReportFile200TextcsvResponse{Body: rc, Headers: hdr, ContentLength: rep.Size}, nil
	case analytics.XLSX:
		return gen.GetReportFile200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: rc, Headers: hdr, ContentLength: rep.Size}, nil
	default:
		return gen.GetReportFile200ApplicationpdfResponse{Body: rc, Headers: hdr, ContentLength: rep.Size}, nil
	}
}

func scheduleBody(s *analytics.Schedule) gen.ReportSchedule {
	out := gen.ReportSchedule{Weekly: s.Weekly, Monthly: s.Monthly}
	if !s.UpdatedAt.IsZero() {
		t := s.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	return out
}

// GetReportSchedule implements gen.StrictServerInterface.
func (h *analyticsHandlers) GetReportSchedule(ctx context.Context, _ gen.GetReportScheduleRequestObject) (gen.GetReportScheduleResponseObject, error) {
	s, err := asCaller(ctx, h.reports, Reports.GetSchedule)
	if err != nil {
		return nil, err
	}
	return gen.GetReportSchedule200JSONResponse(scheduleBody(s)), nil
}

// PutReportSchedule implements gen.StrictServerInterface.
func (h *analyticsHandlers) PutReportSchedule(ctx context.Context, req gen.PutReportScheduleRequestObject) (gen.PutReportScheduleResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if req.Body == nil {
		return nil, apperr.Validation("a schedule is required", map[string]string{"body": "required"})
	}
	s, err := h.reports.PutSchedule(ctx, p.UserID, req.Body.Weekly, req.Body.Monthly)
	if err != nil {
		return nil, err
	}
	return gen.PutReportSchedule200JSONResponse(scheduleBody(s)), nil
}
