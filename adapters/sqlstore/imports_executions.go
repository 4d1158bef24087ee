package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
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
			if _, err := s.db.copyLines(ctx, executionsStage, executionInsertCols, len(es), executionLines(es)); err != nil {
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

// executionLines returns the copyLines line function of es: the values of
// executionInsertCols in COPY text form, as Insert's row stores them.
func executionLines(es []*trading.Execution) func(i int, b []byte) []byte {
	var times copyTimes
	return func(i int, b []byte) []byte {
		e := es[i]
		b = append(appendCopyUUID(b, e.ID, false), '\t')
		b = append(appendCopyUUID(b, e.UserID, false), '\t')
		b = append(appendCopyUUID(b, e.AccountID, false), '\t')
		b = append(appendCopyUUID(b, e.InstrumentID, false), '\t')
		b = append(appendCopyString(b, string(e.Side)), '\t')
		b = append(trading.AppendDecimal(b, e.Quantity), '\t')
		b = append(trading.AppendDecimal(b, e.Price), '\t')
		b = append(trading.AppendDecimal(b, e.Commission), '\t')
		b = append(trading.AppendDecimal(b, e.Fees), '\t')
		b = append(strconv.AppendInt(b, e.ExecutedAt.UnixNano(), 10), '\t')
		b = append(appendCopyString(b, e.BrokerExecutionID), '\t')
		b = append(appendCopyUUID(b, e.ImportID, true), '\t')
		b = append(appendCopyString(b, e.Fingerprint), '\t')
		b = append(strconv.AppendInt(b, e.Version, 10), '\t')
		b = append(times.appendTo(b, e.CreatedAt), '\t')
		return times.appendTo(b, e.UpdatedAt)
	}
}
