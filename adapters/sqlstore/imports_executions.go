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
			cols := strings.Join(executionInsertCols, ", ")
			if err := g.Exec("CREATE TEMP TABLE IF NOT EXISTS " + executionsStage + " ON COMMIT DROP AS SELECT " + cols + " FROM executions WITH NO DATA").Error; err != nil {
				return fmt.Errorf("create %s: %w", executionsStage, translate(err))
			}
			row := func(i int, dst []any) []any { return executionRow(es[i], dst) }
			if _, err := s.db.bulkInsertFunc(ctx, g, executionsStage, executionInsertCols, len(es), row); err != nil {
				return err
			}
			index := make(map[uuid.UUID]int, len(es))
			for i, e := range es {
				index[e.ID] = i
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
			}, "INSERT INTO executions ("+cols+") SELECT "+cols+" FROM "+executionsStage+" ON CONFLICT (account_id, fingerprint) DO NOTHING RETURNING id")
			if err != nil {
				return fmt.Errorf("insert executions: %w", executionDuplicate(err))
			}
			if err := g.Exec("TRUNCATE " + executionsStage).Error; err != nil {
				return fmt.Errorf("truncate %s: %w", executionsStage, translate(err))
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
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

// executionRow appends e's values in executionInsertCols order.
func executionRow(e *trading.Execution, dst []any) []any {
	return append(dst, e.ID, e.UserID, e.AccountID, e.InstrumentID, string(e.Side), e.Quantity, e.Price, e.Commission, e.Fees,
		e.ExecutedAt.UnixNano(), e.BrokerExecutionID, nullID(e.ImportID), e.Fingerprint, e.Version, normTime(e.CreatedAt), normTime(e.UpdatedAt))
}
