package imports

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/trading"
)

// ExecutionsHeader is the header of the executions export: the generic
// preset's default mapping, so an export imports back as it is.
// The multiplier is the one the account values the fill at and the
// currency the instrument's (empty: the account's), so that a forex lot
// of 100,000 or a root outside the built-in table comes back the same.
var ExecutionsHeader = []string{fSymbol, fAssetClass, fSide, fQuantity, fPrice, fCommission, fFees, fExecutedAt, fExecID, fMultiplier, fCurrency,
	"import_id", exportIDColumn}

// exportIDColumn is the executions export's column of each execution's
// ID, which the generic preset reads back as its SourceID.
const exportIDColumn = "id"

// TradesHeader is the header of the trades export.
var TradesHeader = []string{"id", "account_id", "symbol", "asset_class", "direction", "status", "quantity", "avg_entry_price", "avg_exit_price",
	"gross_pnl", "commission", "fees", "net_pnl", "opened_at", "closed_at", "outcome", "r_multiple", "notes", "currency"}

// EscapeFormula guards a text cell against formula injection in
// spreadsheets (OWASP): a value starting with = + - @, a tab or a carriage
// return gets a leading apostrophe. The generic preset removes it again.
func EscapeFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ExportExecutions streams the user's executions that f selects, newest
// first, as CSV to w (numbers exact, times RFC 3339 UTC with their
// nanoseconds, text cells escaped).
//
// An account or import of f that is not the user's is apperr.NotFound
// (before anything is written).
func (s *Service) ExportExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, w io.Writer) error {
	if err := s.ownAccounts(ctx, userID, f.AccountIDs); err != nil {
		return err
	}
	if f.ImportID != uuid.Nil {
		if _, err := s.d.Imports.Get(ctx, userID, f.ImportID); err != nil {
			return err
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ExecutionsHeader); err != nil {
		return err
	}
	type position struct{ account, instrument uuid.UUID }
	type terms struct{ mult, currency string }
	known := map[position]terms{} // a position's terms, read once
	cursor := ""
	for {
		page, next, err := s.d.Trading.ListExecutions(ctx, userID, f, trading.Page{Limit: trading.MaxPageSize, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, e := range page {
			imp := ""
			if e.ImportID != uuid.Nil {
				imp = e.ImportID.String()
			}
			k := position{e.AccountID, e.InstrumentID}
			tm, ok := known[k]
			if !ok {
				m, cur, err := s.d.Trading.ExecutionTerms(ctx, userID, e.AccountID, e.InstrumentID)
				if err != nil {
					return err
				}
				tm = terms{m.String(), cur}
				known[k] = tm
			}
			rec := []string{EscapeFormula(e.Symbol), string(e.AssetClass), string(e.Side), e.Quantity.String(), e.Price.String(), e.Commission.String(),
				e.Fees.String(), e.ExecutedAt.UTC().Format(time.RFC3339Nano), EscapeFormula(e.BrokerExecutionID), tm.mult, EscapeFormula(tm.currency), imp, e.ID.String()}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("write executions export: %w", err)
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// ExportTrades streams the trades f selects, in srt's order, as CSV.
// An account of f that is not the user's is apperr.NotFound.
func (s *Service) ExportTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, srt trading.Sort, w io.Writer) error {
	if err := s.ownAccounts(ctx, userID, f.AccountIDs); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(TradesHeader); err != nil {
		return err
	}
	cursor := ""
	for {
		page, err := s.d.Trading.ListTrades(ctx, userID, f, srt, trading.Page{Limit: trading.MaxPageSize, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, t := range page.Items {
			exit, closed, r := "", "", ""
			if t.AvgExitPrice.Valid {
				exit = t.AvgExitPrice.Decimal.String()
			}
			if !t.ClosedAt.IsZero() {
				closed = t.ClosedAt.UTC().Format(time.RFC3339Nano)
			}
			if t.RMultiple.Valid {
				r = t.RMultiple.Decimal.String()
			}
			rec := []string{t.ID.String(), t.AccountID.String(), EscapeFormula(t.Symbol), string(t.AssetClass), string(t.Direction), string(t.Status),
				t.Quantity.String(), t.AvgEntryPrice.String(), exit, t.GrossPnL.String(), t.Commission.String(), t.Fees.String(), t.NetPnL.String(),
				t.OpenedAt.UTC().Format(time.RFC3339Nano), closed, string(t.Outcome), r, EscapeFormula(t.Annotation.Notes),
				EscapeFormula(t.Currency)}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("write trades export: %w", err)
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// ownAccounts fails with apperr.NotFound "account_not_found" unless every
// ID is one of the user's accounts.
func (s *Service) ownAccounts(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) error {
	for _, id := range ids {
		if _, err := s.d.Trading.GetAccount(ctx, userID, id); err != nil {
			return err
		}
	}
	return nil
}
