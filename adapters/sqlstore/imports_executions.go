package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/trading"
)

var _ trading.NewExecutionsInserter = (*Executions)(nil)

// executionsStage is the temporary table an import's chunk is copied into
// on PostgreSQL before it is moved into executions (dropped at commit).
const executionsStage = "executions_stage"

// executionsRowStage is the stage of a chunk whose executions share every
// column but executionRowCols (see sharedColumns).
const executionsRowStage = "executions_row_stage"

// executionRowCols are the columns of executionInsertCols that differ
// between the executions of an import's chunk.
var executionRowCols = []string{"id", "instrument_id", "side", "quantity", "price", "commission", "fees",
	"executed_at_ns", "broker_execution_id", "fingerprint"}

// sharedColumns reports whether the executions of es have the same user,
// account, import, version and created and updated instants (as stored).
func sharedColumns(es []*trading.Execution) bool {
	a := es[0]
	ac, au := normTime(a.CreatedAt), normTime(a.UpdatedAt)
	for _, e := range es[1:] {
		if e.UserID != a.UserID || e.AccountID != a.AccountID || e.ImportID != a.ImportID || e.Version != a.Version ||
			!normTime(e.CreatedAt).Equal(ac) || !normTime(e.UpdatedAt).Equal(au) {
			return false
		}
	}
	return true
}

// InsertNew implements trading.NewExecutionsInserter. On PostgreSQL the
// chunk is streamed with COPY into a temporary table (no index, no foreign
// key) and moved into executions with INSERT … ON CONFLICT (account_id,
// fingerprint) DO NOTHING RETURNING id: the unique index decides what is a
// duplicate, and no lookup query is planned against a table the
// transaction keeps growing. On SQLite it looks the fingerprints up and
// inserts the rest in batched INSERTs (a SQLite writer holds the database
// lock, so nothing can come in between).
func (s *Executions) InsertNew(ctx context.Context, es []*trading.Execution) ([]bool, error) {
	stored := make([]bool, len(es))
	if len(es) == 0 {
		return stored, nil
	}
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		if s.db.dialect != Postgres {
			return s.insertNewLookup(ctx, es, stored)
		}
		return s.db.run(ctx, func(g *gorm.DB) error {
			// The columns every execution of the chunk shares (an import's
			// chunk: one user, account, import, version and instant) are
			// parameters of the INSERT instead of COPYed and parsed 5,000
			// times; a chunk that does not share them is staged whole.
			stage, stageCols, sel, args := executionsStage, executionInsertCols, executionInsertCols, []any(nil)
			if sharedColumns(es) {
				e := es[0]
				stage, stageCols = executionsRowStage, executionRowCols
				sel = []string{"id", "?::uuid", "?::uuid", "instrument_id", "side", "quantity", "price", "commission", "fees",
					"executed_at_ns", "broker_execution_id", "?::uuid", "fingerprint", "?::bigint", "?::timestamptz", "?::timestamptz"}
				args = []any{e.UserID, e.AccountID, nullID(e.ImportID), e.Version, normTime(e.CreatedAt), normTime(e.UpdatedAt)}
			}
			if err := g.Exec("CREATE TEMP TABLE IF NOT EXISTS " + stage + " ON COMMIT DROP AS SELECT " + strings.Join(stageCols, ", ") + " FROM executions WITH NO DATA").Error; err != nil {
				return fmt.Errorf("create %s: %w", stage, translate(err))
			}
			if _, err := s.db.copyBinary(ctx, stage, stageCols, len(es), executionRows(es, stage == executionsRowStage)); err != nil {
				return err
			}
			res := g.Exec("INSERT INTO executions ("+strings.Join(executionInsertCols, ", ")+") SELECT "+strings.Join(sel, ", ")+" FROM "+stage+
				" ON CONFLICT (account_id, fingerprint) DO NOTHING", args...)
			if res.Error != nil {
				return fmt.Errorf("insert executions: %w", executionDuplicate(res.Error))
			}
			// Every row stored or none (a re-import) is told by the count
			// alone; only a chunk with some duplicates looks its IDs up
			// (they are new: an ID found was stored by this statement).
			switch n := int(res.RowsAffected); {
			case n == len(es):
				for i := range stored {
					stored[i] = true
				}
			case n > 0:
				if err := s.storedIDs(g, es, stored); err != nil {
					return err
				}
			}
			if err := g.Exec("TRUNCATE " + stage).Error; err != nil {
				return fmt.Errorf("truncate %s: %w", stage, translate(err))
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// storedIDs sets stored[i] for each execution of es that executions
// holds, looking their IDs up chunk at a time.
func (s *Executions) storedIDs(g *gorm.DB, es []*trading.Execution, stored []bool) error {
	index := make(map[uuid.UUID]int, len(es))
	for i, e := range es {
		index[e.ID] = i
	}
	for start := 0; start < len(es); start += chunk {
		part := make([]uuid.UUID, 0, chunk)
		for _, e := range es[start:min(start+chunk, len(es))] {
			part = append(part, e.ID)
		}
		err := query(g, func(r *sql.Rows) error {
			var id uuid.UUID
			if err := r.Scan(&id); err != nil {
				return translate(err)
			}
			if i, ok := index[id]; ok {
				stored[i] = true
			}
			return nil
		}, "SELECT id FROM executions WHERE id IN ?", ids(part))
		if err != nil {
			return fmt.Errorf("look up stored executions: %w", err)
		}
	}
	return nil
}

// insertNewLookup is InsertNew by a fingerprint lookup and Insert.
func (s *Executions) insertNewLookup(ctx context.Context, es []*trading.Execution, stored []bool) error {
	fps := make([]string, len(es))
	for i, e := range es {
		fps[i] = e.Fingerprint
	}
	taken, err := s.Fingerprinted(ctx, es[0].AccountID, fps)
	if err != nil {
		return err
	}
	keep := make([]*trading.Execution, 0, len(es))
	seen := make(map[string]bool, len(es))
	for i, e := range es {
		if _, dup := taken[e.Fingerprint]; dup || seen[e.Fingerprint] {
			continue
		}
		seen[e.Fingerprint] = true
		stored[i] = true
		keep = append(keep, e)
	}
	if len(keep) == 0 {
		return nil
	}
	return s.Insert(ctx, keep)
}

// executionRows returns the copyBinary row function of es: the values of
// executionInsertCols (executionRowCols when rowOnly) in binary COPY
// form, as Insert's row stores them.
func executionRows(es []*trading.Execution, rowOnly bool) func(i int, b []byte) []byte {
	fields := len(executionInsertCols)
	if rowOnly {
		fields = len(executionRowCols)
	}
	return func(i int, b []byte) []byte {
		e := es[i]
		b = copyUUID(copyFields(b, fields), e.ID)
		if !rowOnly {
			b = copyUUID(copyUUID(b, e.UserID), e.AccountID)
		}
		b = copyStr(copyUUID(b, e.InstrumentID), string(e.Side))
		b = copyDec(copyDec(copyDec(copyDec(b, e.Quantity), e.Price), e.Commission), e.Fees)
		b = copyStr(copyInt64(b, e.ExecutedAt.UnixNano()), e.BrokerExecutionID)
		if rowOnly {
			return copyStr(b, e.Fingerprint)
		}
		b = copyStr(copyNullUUID(b, e.ImportID), e.Fingerprint)
		return copyTime(copyTime(copyInt64(b, e.Version), e.CreatedAt), e.UpdatedAt)
	}
}
