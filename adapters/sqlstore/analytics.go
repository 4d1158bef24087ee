package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"
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
var analyticsCols = []string{"t.id", "t.account_id", "t.symbol", "t.asset_class", "t.direction", "t.opened_at_ns", "t.closed_at_ns", "t.holding_ns",
	"t.gross_pnl", "t.commission", "t.fees", "t.net_pnl", "t.initial_risk", "t.playbook_id", "t.followed_rules", "t.open_weekday", "t.open_hour"}

// ClosedTrades implements analytics.Source: one statement in close order,
// served by trades_user_closed_idx (user_id, closed_at_ns, id) read
// backwards; the rows are scanned as raw bytes and parsed without
// database/sql's per-value conversions.
func (s *AnalyticsSource) ClosedTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, tags bool, each func(*analytics.Row) error) error {
	f.Status = trading.Closed
	where, args := s.ledger.tradeWhere(userID, &f)
	d := s.db
	cs := make([]string, len(analyticsCols))
	for i, c := range analyticsCols {
		cs[i] = d.text(c)
	}
	cols := strings.Join(cs, ", ")
	var tagsOf map[uuid.UUID][]uuid.UUID
	if tags {
		var err error
		if tagsOf, err = s.tradeTags(ctx, userID); err != nil {
			return fmt.Errorf("stream closed trades: %w", err)
		}
	}
	q := "SELECT " + cols + " FROM trades t WHERE " + strings.Join(where, " AND ") + " ORDER BY t.closed_at_ns, t.id"
	n := len(analyticsCols)
	var row analytics.Row
	withTags := func(r *analytics.Row) *analytics.Row {
		r.TagIDs = append(r.TagIDs[:0], tagsOf[r.ID]...)
		return r
	}
	if d.dialect == Postgres {
		pq, pargs := pgPlaceholders(q, args)
		err := d.pgStream(ctx, pq, pargs, func(v [][]byte) error {
			if len(v) != n {
				return fmt.Errorf("trade row: %d columns, want %d", len(v), n)
			}
			if err := parseAnalyticsRow(v, &row); err != nil {
				return err
			}
			return each(withTags(&row))
		})
		if err != nil {
			return fmt.Errorf("stream closed trades: %w", err)
		}
		return nil
	}
	// SQLite: the driver's cost is per column (a type lookup and two
	// mutexes each), so the columns but the symbol (free text) come
	// packed in one, separated by the unit separator, which no ID,
	// number or JSON array of IDs contains.
	packed := make([]string, 0, n-1)
	for _, c := range analyticsCols {
		if c != "t.symbol" {
			packed = append(packed, "ifnull("+c+", '')")
		}
	}
	q = "SELECT " + strings.Join(packed, " || char(31) || ") + ", t.symbol FROM trades t WHERE " + strings.Join(where, " AND ") + " ORDER BY t.closed_at_ns, t.id"
	err := d.run(ctx, func(g *gorm.DB) error {
		var raw, sym sql.RawBytes
		vals := make([][]byte, n)
		return query(g, func(r *sql.Rows) error {
			if err := r.Scan(&raw, &sym); err != nil {
				return translate(err)
			}
			rest := []byte(raw)
			for i := range vals {
				if i == 2 {
					vals[i] = sym
					continue
				}
				k := bytes.IndexByte(rest, 0x1f)
				if k < 0 {
					k = len(rest)
				}
				vals[i], rest = rest[:k], rest[min(k+1, len(rest)):]
				if len(vals[i]) == 0 {
					vals[i] = nil // ifnull: NULL
				}
			}
			if err := parseAnalyticsRow(vals, &row); err != nil {
				return err
			}
			return each(withTags(&row))
		}, q, args...)
	})
	if err != nil {
		return fmt.Errorf("stream closed trades: %w", err)
	}
	return nil
}

// pgStream runs q (placeholders $1 ...) with pgx directly, on the
// transaction's connection when ctx carries one, else on a connection of
// the pool, and calls fn with each row's raw values: database/sql would
// turn every value into a string and then copy it again into the scan
// target, which was most of the cost of streaming 50,000 trades. Select
// text columns only (cast where needed).
func (d *DB) pgStream(ctx context.Context, q string, args []any, fn func(vals [][]byte) error) error {
	if ok, err := d.pgRows(ctx, q, args, fn); ok {
		return err
	}
	conn, err := d.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	err = conn.Raw(func(dc any) error {
		sc, isPgx := dc.(*stdlib.Conn)
		if !isPgx {
			return errors.New("sqlstore: raw rows need a pgx connection")
		}
		rows, err := sc.Conn().Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows.RawValues()); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return translate(err)
}

// pgPlaceholders numbers the ? placeholders of a GORM-style statement
// for pgx, expanding a slice argument into a parenthesised list as GORM
// does ("IN ?" becomes "IN ($2,$3)"). The statements it is given have
// no ? inside literals.
func pgPlaceholders(q string, args []any) (string, []any) {
	var b strings.Builder
	out := make([]any, 0, len(args))
	next := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' || next >= len(args) {
			b.WriteByte(q[i])
			continue
		}
		a := args[next]
		next++
		if v := reflect.ValueOf(a); v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			b.WriteByte('(')
			for j := range v.Len() {
				if j > 0 {
					b.WriteByte(',')
				}
				out = append(out, v.Index(j).Interface())
				fmt.Fprintf(&b, "$%d", len(out))
			}
			if v.Len() == 0 {
				b.WriteString("NULL")
			}
			b.WriteByte(')')
			continue
		}
		out = append(out, a)
		fmt.Fprintf(&b, "$%d", len(out))
	}
	return b.String(), out
}

func parseAnalyticsRow(v [][]byte, r *analytics.Row) error {
	var errs [13]error
	r.ID, errs[0] = rawUUID(v[0])
	r.AccountID, errs[1] = rawUUID(v[1])
	// The row before's strings are kept when they repeat (a history has a
	// few symbols, classes and directions): no allocation per row.
	if r.Symbol != string(v[2]) {
		r.Symbol = string(v[2])
	}
	if string(r.AssetClass) != string(v[3]) {
		r.AssetClass = trading.AssetClass(v[3])
	}
	if string(r.Direction) != string(v[4]) {
		r.Direction = trading.Direction(v[4])
	}
	var opened, closed, holding int64
	opened, errs[2] = bytesInt(v[5])
	closed, errs[3] = bytesInt(v[6])
	if v[7] != nil {
		holding, errs[4] = bytesInt(v[7])
	}
	r.OpenedAt, r.ClosedAt, r.Holding = nsTime(opened), nsTime(closed), time.Duration(holding)
	var comm, fees decimal.Decimal
	r.GrossPnL, errs[5] = bytesDec(v[8])
	comm, errs[6] = bytesDec(v[9])
	fees, errs[7] = bytesDec(v[10])
	r.NetPnL, errs[8] = bytesDec(v[11])
	switch {
	case fees.IsZero():
		r.Costs = comm
	case comm.IsZero():
		r.Costs = fees
	default:
		r.Costs = comm.Add(fees)
	}
	r.InitialRisk = decimal.NullDecimal{}
	if v[12] != nil {
		r.InitialRisk.Decimal, errs[9] = bytesDec(v[12])
		r.InitialRisk.Valid = true
	}
	r.PlaybookID, errs[10] = rawUUID(v[13])
	// followed_rules is a JSON array of UUID strings: two quotes each.
	r.FollowedRules = bytes.Count(v[14], []byte{'"'}) / 2
	var wd, hour int64
	wd, errs[11] = bytesInt(v[15])
	hour, errs[12] = bytesInt(v[16])
	r.OpenWeekday, r.OpenHour = time.Weekday(wd), int(hour)
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("trade row: %w", err)
	}
	return nil
}

// bytesDec is rawDec without putting the slice in an interface (an
// allocation per value).
func bytesDec(b []byte) (decimal.Decimal, error) {
	if d, ok := parseSmallDecimal(b); ok {
		return d, nil
	}
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("sqlstore: decimal %q: %w", b, err)
	}
	return d, nil
}

// tradeTags returns the tags of every tagged trade of the user, in one
// statement (a correlated subquery per trade cost more than the whole
// stream).
func (s *AnalyticsSource) tradeTags(ctx context.Context, userID uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	out := map[uuid.UUID][]uuid.UUID{}
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			var trade, tag uuid.UUID
			if err := r.Scan(&trade, &tag); err != nil {
				return translate(err)
			}
			out[trade] = append(out[trade], tag)
			return nil
		}, "SELECT tt.trade_id, tt.tag_id FROM trade_tags tt JOIN tags g ON g.id = tt.tag_id WHERE g.user_id = ? ORDER BY tt.trade_id, tt.tag_id", userID)
	})
	if err != nil {
		return nil, fmt.Errorf("trade tags: %w", err)
	}
	return out, nil
}

// bytesInt parses a decimal integer without converting it to a string
// first (strconv.ParseInt's string would be allocated for every value).
func bytesInt(b []byte) (int64, error) {
	neg := len(b) > 0 && b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var n int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return strconv.ParseInt(string(b), 10, 64)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
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

// Analyze refreshes the planner's statistics of the trades table, as
// autovacuum does soon after a bulk load. The benchmarks call it after
// loading their book: without statistics PostgreSQL sorts the 50,000
// rows on disk instead of reading trades_user_closed_idx in order.
func (s *AnalyticsSource) Analyze(ctx context.Context) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		stmt := "ANALYZE trades"
		if s.db.dialect != Postgres {
			stmt = "ANALYZE"
		}
		return translate(g.Exec(stmt).Error)
	})
}
