package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/trading"
)

// AnalyticsSource is the SQL implementation of analytics.Source. It
// selects trades with the trade list's own translation of trading.Filter
// (Ledger.tradeWhere), so lists and figures can never disagree on what a
// filter means.
type AnalyticsSource struct {
	db     *DB
	ledger *Ledger
}

var _ analytics.Source = (*AnalyticsSource)(nil)

// NewAnalyticsSource returns the analytics source on db.
func NewAnalyticsSource(db *DB) *AnalyticsSource {
	return &AnalyticsSource{db: db, ledger: NewLedger(db)}
}

// analyticsCols are the columns of analytics.Row, every one read as text.
const analyticsCols = "%s, %s, t.symbol, t.asset_class, t.direction, t.opened_at_ns, t.closed_at_ns, t.holding_ns, " +
	"%s, %s, %s, %s, %s, %s, t.followed_rules, t.open_weekday, t.open_hour"

// ClosedTrades implements analytics.Source: one statement in close order,
// served by trades_user_closed_idx (user_id, closed_at_ns, id) read
// backwards; the rows are scanned as raw bytes and parsed without
// database/sql's per-value conversions.
func (s *AnalyticsSource) ClosedTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, tags bool, each func(*analytics.Row) error) error {
	f.Status = trading.Closed
	where, args := s.ledger.tradeWhere(userID, &f)
	d := s.db
	cols := fmt.Sprintf(analyticsCols, d.text("t.id"), d.text("t.account_id"), d.text("t.gross_pnl"), d.text("t.commission"), d.text("t.fees"), d.text("t.net_pnl"), d.text("t.initial_risk"), d.text("t.playbook_id"))
	if tags {
		agg := "(SELECT string_agg(tt.tag_id::text, ',') FROM trade_tags tt WHERE tt.trade_id = t.id)"
		if d.dialect != Postgres {
			agg = "(SELECT group_concat(tt.tag_id, ',') FROM trade_tags tt WHERE tt.trade_id = t.id)"
		}
		cols += ", " + agg
	}
	q := "SELECT " + cols + " FROM trades t WHERE " + strings.Join(where, " AND ") + " ORDER BY t.closed_at_ns, t.id"
	n := 17
	if tags {
		n++
	}
	err := d.run(ctx, func(g *gorm.DB) error {
		raw := make([]sql.RawBytes, n)
		dest := make([]any, n)
		for i := range raw {
			dest[i] = &raw[i]
		}
		var row analytics.Row
		return query(g, func(r *sql.Rows) error {
			if err := r.Scan(dest...); err != nil {
				return translate(err)
			}
			if err := parseAnalyticsRow(raw, &row); err != nil {
				return err
			}
			return each(&row)
		}, q, args...)
	})
	if err != nil {
		return fmt.Errorf("stream closed trades: %w", err)
	}
	return nil
}

func parseAnalyticsRow(v []sql.RawBytes, r *analytics.Row) error {
	var errs [14]error
	r.ID, errs[0] = rawUUID(v[0])
	r.AccountID, errs[1] = rawUUID(v[1])
	r.Symbol = string(v[2])
	r.AssetClass = trading.AssetClass(v[3])
	r.Direction = trading.Direction(v[4])
	var opened, closed, holding int64
	opened, errs[2] = rawInt(v[5])
	closed, errs[3] = rawInt(v[6])
	if v[7] != nil {
		holding, errs[4] = rawInt(v[7])
	}
	r.OpenedAt, r.ClosedAt, r.Holding = nsTime(opened), nsTime(closed), time.Duration(holding)
	var comm, fees decimal.Decimal
	r.GrossPnL, errs[5] = rawDec(v[8])
	comm, errs[6] = rawDec(v[9])
	fees, errs[7] = rawDec(v[10])
	r.NetPnL, errs[8] = rawDec(v[11])
	r.Costs = comm.Add(fees)
	r.InitialRisk = decimal.NullDecimal{}
	if v[12] != nil {
		r.InitialRisk.Decimal, errs[9] = rawDec(v[12])
		r.InitialRisk.Valid = true
	}
	r.PlaybookID, errs[10] = rawUUID(v[13])
	// followed_rules is a JSON array of UUID strings: two quotes each.
	r.FollowedRules = bytes.Count(v[14], []byte{'"'}) / 2
	var wd, hour int64
	wd, errs[11] = rawInt(v[15])
	hour, errs[12] = rawInt(v[16])
	r.OpenWeekday, r.OpenHour = time.Weekday(wd), int(hour)
	r.TagIDs = r.TagIDs[:0]
	if len(v) > 17 && len(v[17]) > 0 {
		for _, part := range bytes.Split(v[17], []byte{','}) {
			id, err := uuid.ParseBytes(part)
			if err != nil {
				errs[13] = err
				break
			}
			r.TagIDs = append(r.TagIDs, id)
		}
	}
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("trade row: %w", err)
	}
	return nil
}

// Catalog implements analytics.Source.
func (s *AnalyticsSource) Catalog(ctx context.Context, userID uuid.UUID) (analytics.Catalog, error) {
	cat := analytics.Catalog{Accounts: map[uuid.UUID]analytics.AccountInfo{}, Tags: map[uuid.UUID]string{}, Playbooks: map[uuid.UUID]analytics.PlaybookInfo{}}
	d := s.db
	err := d.run(ctx, func(g *gorm.DB) error {
		err := query(g, func(r *sql.Rows) error {
			var id uuid.UUID
			var a analytics.AccountInfo
			var bal sql.NullString
			var band string
			if err := r.Scan(&id, &a.Name, &a.Currency, &bal, &band); err != nil {
				return translate(err)
			}
			if bal.Valid {
				v, err := decimal.NewFromString(bal.String)
				if err != nil {
					return fmt.Errorf("account %s starting balance: %w", id, err)
				}
				a.StartingBalance = decimal.NewNullDecimal(v)
			}
			v, err := decimal.NewFromString(band)
			if err != nil {
				return fmt.Errorf("account %s breakeven band: %w", id, err)
			}
			a.BreakevenBand = v
			cat.Accounts[id] = a
			return nil
		}, "SELECT id, name, currency, "+d.text("starting_balance")+", "+d.text("breakeven_band")+" FROM trading_accounts WHERE user_id = ?", userID)
		if err != nil {
			return err
		}
		err = query(g, func(r *sql.Rows) error {
			var id uuid.UUID
			var name string
			if err := r.Scan(&id, &name); err != nil {
				return translate(err)
			}
			cat.Tags[id] = name
			return nil
		}, "SELECT id, name FROM tags WHERE user_id = ?", userID)
		if err != nil {
			return err
		}
		return query(g, func(r *sql.Rows) error {
			var id uuid.UUID
			var name, rules string
			if err := r.Scan(&id, &name, &rules); err != nil {
				return translate(err)
			}
			var parsed []json.RawMessage
			if err := json.Unmarshal([]byte(rules), &parsed); err != nil {
				return fmt.Errorf("playbook %s rules: %w", id, err)
			}
			cat.Playbooks[id] = analytics.PlaybookInfo{Name: name, Rules: len(parsed)}
			return nil
		}, "SELECT id, name, rules FROM playbooks WHERE user_id = ?", userID)
	})
	if err != nil {
		return analytics.Catalog{}, fmt.Errorf("analytics catalog: %w", err)
	}
	return cat, nil
}

// SumNetPnL is the floor of the analytics benchmarks: the bare
// SELECT sum(net_pnl) over the closed trades of a user.
func (s *AnalyticsSource) SumNetPnL(ctx context.Context, userID uuid.UUID) (string, error) {
	var out sql.NullString
	err := s.db.run(ctx, func(g *gorm.DB) error {
		col := "t.net_pnl"
		if s.db.dialect != Postgres {
			col = "CAST(t.net_pnl AS REAL)"
		}
		return g.Raw("SELECT "+s.db.text("sum("+col+")")+" FROM trades t WHERE t.user_id = ? AND t.status = 'closed'", userID).Scan(&out).Error
	})
	if err != nil {
		return "", translate(err)
	}
	return out.String, nil
}

// WindowSummary is the SQL alternative that docs/analytics.md measured
// against the one-pass Go computation: trade count, net P&L and max
// drawdown of a user's closed trades with window functions. On SQLite the
// sums are REAL (inexact), which is one reason the Go pass was chosen; it
// is kept for the benchmark only.
func (s *AnalyticsSource) WindowSummary(ctx context.Context, userID uuid.UUID) (n int64, net, maxDD string, err error) {
	col := "t.net_pnl"
	if s.db.dialect != Postgres {
		col = "CAST(t.net_pnl AS REAL)"
	}
	q := `SELECT count(*), ` + s.db.text("COALESCE(sum(pnl), 0)") + `, ` + s.db.text("COALESCE(max(peak - cum), 0)") + ` FROM (
		SELECT pnl, cum, max(cum) OVER (ORDER BY closed_at_ns, id ROWS UNBOUNDED PRECEDING) AS peak FROM (
			SELECT ` + col + ` AS pnl, t.closed_at_ns, t.id, sum(` + col + `) OVER (ORDER BY t.closed_at_ns, t.id ROWS UNBOUNDED PRECEDING) AS cum
			FROM trades t WHERE t.user_id = ? AND t.status = 'closed') a) b`
	err = s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error { return r.Scan(&n, &net, &maxDD) }, q, userID)
	})
	return n, net, maxDD, err
}
