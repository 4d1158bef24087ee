package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/trading"
)

// Imports is the SQL implementation of imports.Imports.
type Imports struct{ db *DB }

// ImportMappings is the SQL implementation of imports.Mappings.
type ImportMappings struct{ db *DB }

var (
	_ imports.Imports  = (*Imports)(nil)
	_ imports.Mappings = (*ImportMappings)(nil)
)

// NewImports returns the imports repository on db.
func NewImports(db *DB) *Imports { return &Imports{db: db} }

// NewImportMappings returns the mappings repository on db.
func NewImportMappings(db *DB) *ImportMappings { return &ImportMappings{db: db} }

const importCols = "id, user_id, account_id, broker, filename, blob_key, size_bytes, timezone, mapping, strict, status, rows_read, executions_added, " +
	"duplicates, rejected, trades_rebuilt, warnings, error, created_at, started_at, finished_at, version"

func importNotFound() error {
	return apperr.New(apperr.NotFound, imports.CodeImportNotFound, "import not found")
}

func importArgs(imp *imports.Import) ([]any, error) {
	m := imp.Mapping
	if m == nil {
		m = map[string]string{}
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("import mapping: %w", err)
	}
	w := imp.Warnings
	if w == nil {
		w = []string{}
	}
	wj, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("import warnings: %w", err)
	}
	c := imp.Counts
	return []any{imp.ID, imp.UserID, imp.AccountID, imp.Broker, imp.Filename, imp.BlobKey, imp.Size, imp.Timezone, string(mj), imp.Strict,
		string(imp.Status), c.Rows, c.ExecutionsAdded, c.Duplicates, c.Rejected, imp.TradesRebuilt, string(wj), imp.Error,
		normTime(imp.CreatedAt), nullTime(imp.StartedAt), nullTime(imp.FinishedAt), imp.Version}, nil
}

func scanImport(r *sql.Rows) (*imports.Import, error) {
	var imp imports.Import
	var mapping, warnings string
	var started, finished sql.NullTime
	c := &imp.Counts
	if err := r.Scan(&imp.ID, &imp.UserID, &imp.AccountID, &imp.Broker, &imp.Filename, &imp.BlobKey, &imp.Size, &imp.Timezone, &mapping, &imp.Strict,
		&imp.Status, &c.Rows, &c.ExecutionsAdded, &c.Duplicates, &c.Rejected, &imp.TradesRebuilt, &warnings, &imp.Error,
		&imp.CreatedAt, &started, &finished, &imp.Version); err != nil {
		return nil, translate(err)
	}
	if err := json.Unmarshal([]byte(mapping), &imp.Mapping); err != nil {
		return nil, fmt.Errorf("import %s mapping: %w", imp.ID, err)
	}
	if len(imp.Mapping) == 0 {
		imp.Mapping = nil
	}
	if err := json.Unmarshal([]byte(warnings), &imp.Warnings); err != nil {
		return nil, fmt.Errorf("import %s warnings: %w", imp.ID, err)
	}
	if len(imp.Warnings) == 0 {
		imp.Warnings = nil
	}
	imp.CreatedAt = imp.CreatedAt.UTC()
	if started.Valid {
		imp.StartedAt = started.Time.UTC()
	}
	if finished.Valid {
		imp.FinishedAt = finished.Time.UTC()
	}
	return &imp, nil
}

// Create implements imports.Imports.
func (s *Imports) Create(ctx context.Context, imp *imports.Import) error {
	args, err := importArgs(imp)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			if err := g.Exec("INSERT INTO imports ("+importCols+") VALUES "+placeholders(1, 22), args...).Error; err != nil {
				return fmt.Errorf("create import: %w", translate(err))
			}
			return s.writeIssues(ctx, g, imp)
		})
	})
}

var issueCols = []string{"import_id", "kind", "seq", "line", "raw", "reason", "broker_pnl", "computed_pnl"}

func (s *Imports) writeIssues(ctx context.Context, g *gorm.DB, imp *imports.Import) error {
	// Rows are built as they are sent: an import's 50,000 mismatches are
	// not materialised as [][]any.
	nr := len(imp.Rejected)
	if st := txFrom(ctx, s.db); s.db.dialect == Postgres && st != nil && st.conn != nil {
		if _, err := s.db.copyLines(ctx, "import_issues", issueCols, nr+len(imp.Mismatches), issueLines(imp)); err != nil {
			return fmt.Errorf("write import issues: %w", err)
		}
		return nil
	}
	row := func(i int, dst []any) []any {
		if i < nr {
			r := &imp.Rejected[i]
			return append(dst, imp.ID, "rejected", i, r.Line, r.Raw, r.Reason, decimal.NullDecimal{}, decimal.NullDecimal{})
		}
		m := &imp.Mismatches[i-nr]
		return append(dst, imp.ID, "mismatch", i-nr, m.Line, "", "", decimal.NewNullDecimal(m.BrokerPnL), decimal.NewNullDecimal(m.ComputedPnL))
	}
	if _, err := s.db.bulkInsertFunc(ctx, g, "import_issues", issueCols, nr+len(imp.Mismatches), row); err != nil {
		return fmt.Errorf("write import issues: %w", err)
	}
	return nil
}

// issueLines is the copyLines line function of imp's issues in issueCols
// order: the rejected rows, then the mismatches, each numbered from 0.
func issueLines(imp *imports.Import) func(i int, b []byte) []byte {
	nr := len(imp.Rejected)
	return func(i int, b []byte) []byte {
		b = append(appendCopyUUID(b, imp.ID, false), '\t')
		if i < nr {
			r := &imp.Rejected[i]
			b = append(b, "rejected\t"...)
			b = append(strconv.AppendInt(b, int64(i), 10), '\t')
			b = append(strconv.AppendInt(b, int64(r.Line), 10), '\t')
			b = append(appendCopyString(b, r.Raw), '\t')
			b = append(appendCopyString(b, r.Reason), '\t')
			return append(b, "\\N\t\\N"...)
		}
		m := &imp.Mismatches[i-nr]
		b = append(b, "mismatch\t"...)
		b = append(strconv.AppendInt(b, int64(i-nr), 10), '\t')
		b = append(strconv.AppendInt(b, int64(m.Line), 10), '\t')
		b = append(b, "\t\t"...)
		b = append(trading.AppendDecimal(b, m.BrokerPnL), '\t')
		return trading.AppendDecimal(b, m.ComputedPnL)
	}
}

// Get implements imports.Imports.
func (s *Imports) Get(ctx context.Context, userID, id uuid.UUID) (*imports.Import, error) {
	var out *imports.Import
	err := s.db.run(ctx, func(g *gorm.DB) error {
		err := query(g, func(r *sql.Rows) (err error) { out, err = scanImport(r); return err },
			"SELECT "+importCols+" FROM imports WHERE user_id = ? AND id = ?", userID, id)
		if err != nil || out == nil {
			return err
		}
		return query(g, func(r *sql.Rows) error {
			var kind, raw, reason string
			var line int
			var broker, computed sql.NullString
			if err := r.Scan(&kind, &line, &raw, &reason, &broker, &computed); err != nil {
				return translate(err)
			}
			if kind == "rejected" {
				out.Rejected = append(out.Rejected, imports.RejectedRow{Line: line, Raw: raw, Reason: reason})
				return nil
			}
			m := imports.Mismatch{Line: line}
			var err error
			if m.BrokerPnL, err = decimal.NewFromString(broker.String); err != nil {
				return fmt.Errorf("import %s mismatch: %w", id, err)
			}
			if m.ComputedPnL, err = decimal.NewFromString(computed.String); err != nil {
				return fmt.Errorf("import %s mismatch: %w", id, err)
			}
			out.Mismatches = append(out.Mismatches, m)
			return nil
		}, "SELECT kind, line, raw, reason, "+s.db.text("broker_pnl")+", "+s.db.text("computed_pnl")+" FROM import_issues WHERE import_id = ? ORDER BY kind, seq", id)
	})
	if err != nil {
		return nil, fmt.Errorf("get import: %w", err)
	}
	if out == nil {
		return nil, importNotFound()
	}
	return out, nil
}

// Update implements imports.Imports.
func (s *Imports) Update(ctx context.Context, imp *imports.Import) error {
	args, err := importArgs(imp)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			res := g.Exec(`UPDATE imports SET status = ?, rows_read = ?, executions_added = ?, duplicates = ?, rejected = ?, trades_rebuilt = ?,
				warnings = ?, error = ?, started_at = ?, finished_at = ?, version = ? WHERE user_id = ? AND id = ? AND version = ?`,
				args[10], args[11], args[12], args[13], args[14], args[15], args[16], args[17], args[19], args[20], imp.Version, imp.UserID, imp.ID, imp.Version-1)
			if res.Error != nil {
				return fmt.Errorf("update import: %w", translate(res.Error))
			}
			if res.RowsAffected != 1 {
				return missingOrStale(g, "imports", "id = ? AND user_id = ?", []any{imp.ID, imp.UserID}, importNotFound())
			}
			if err := g.Exec("DELETE FROM import_issues WHERE import_id = ?", imp.ID).Error; err != nil {
				return fmt.Errorf("update import issues: %w", translate(err))
			}
			return s.writeIssues(ctx, g, imp)
		})
	})
}

// List implements imports.Imports.
func (s *Imports) List(ctx context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]imports.Import, error) {
	where, args := []string{"user_id = ?"}, []any{userID}
	if accountID != uuid.Nil {
		where, args = append(where, "account_id = ?"), append(args, accountID)
	}
	if !before.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, normTime(before))
	}
	args = append(args, limit)
	return listAll(ctx, s.db, scanImport, "list imports",
		"SELECT "+importCols+" FROM imports WHERE "+strings.Join(where, " AND ")+" ORDER BY created_at DESC, id DESC LIMIT ?", args...)
}

// Queued implements imports.Imports.
func (s *Imports) Queued(ctx context.Context, before time.Time, limit int) ([]imports.Import, error) {
	return listAll(ctx, s.db, scanImport, "list queued imports",
		"SELECT "+importCols+" FROM imports WHERE status = ? AND created_at < ? ORDER BY created_at, id LIMIT ?", string(imports.Queued), normTime(before), limit)
}

// BlobKeys implements imports.Imports.
func (s *Imports) BlobKeys(ctx context.Context, userID, accountID uuid.UUID) ([]string, error) {
	var out []string
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			var key string
			if err := r.Scan(&key); err != nil {
				return translate(err)
			}
			out = append(out, key)
			return nil
		}, "SELECT DISTINCT blob_key FROM imports WHERE user_id = ? AND account_id = ? AND blob_key <> ''", userID, accountID)
	})
	if err != nil {
		return nil, fmt.Errorf("list import files: %w", err)
	}
	return out, nil
}

// Delete implements imports.Imports (the issues go with it: by the
// imports_delete_issues trigger on PostgreSQL, migration 00341).
func (s *Imports) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		if s.db.dialect != Postgres {
			// SQLite enforces the cascade only with foreign_keys on; do it
			// by hand so the outcome never depends on the pragma.
			if err := g.Exec("DELETE FROM import_issues WHERE import_id IN (SELECT id FROM imports WHERE user_id = ? AND id = ?)", userID, id).Error; err != nil {
				return fmt.Errorf("delete import issues: %w", translate(err))
			}
		}
		res := g.Exec("DELETE FROM imports WHERE user_id = ? AND id = ?", userID, id)
		if res.Error != nil {
			return fmt.Errorf("delete import: %w", translate(res.Error))
		}
		if res.RowsAffected == 0 {
			return importNotFound()
		}
		return nil
	})
}

// ---- mappings

const mappingCols = "id, user_id, name, columns, version, created_at, updated_at"

func mappingNotFound() error {
	return apperr.New(apperr.NotFound, imports.CodeMappingNotFound, "import mapping not found")
}

func mappingTaken(err error) error {
	if _, dup := uniqueViolation(err); dup {
		return apperr.Wrap(err, apperr.Conflict, imports.CodeMappingTaken, "a mapping of that name exists")
	}
	return translate(err)
}

func scanMapping(r *sql.Rows) (*imports.Mapping, error) {
	var m imports.Mapping
	var cols string
	if err := r.Scan(&m.ID, &m.UserID, &m.Name, &cols, &m.Version, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	if err := json.Unmarshal([]byte(cols), &m.Columns); err != nil {
		return nil, fmt.Errorf("import mapping %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return &m, nil
}

func nameKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Create implements imports.Mappings.
func (s *ImportMappings) Create(ctx context.Context, m *imports.Mapping) error {
	cj, err := json.Marshal(m.Columns)
	if err != nil {
		return fmt.Errorf("import mapping columns: %w", err)
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec("INSERT INTO import_mappings (id, user_id, name, name_key, columns, version, created_at, updated_at) VALUES "+placeholders(1, 8),
			m.ID, m.UserID, m.Name, nameKey(m.Name), string(cj), m.Version, normTime(m.CreatedAt), normTime(m.UpdatedAt)).Error
		if err != nil {
			return fmt.Errorf("create import mapping: %w", mappingTaken(err))
		}
		return nil
	})
}

// Get implements imports.Mappings.
func (s *ImportMappings) Get(ctx context.Context, userID, id uuid.UUID) (*imports.Mapping, error) {
	return getOne(ctx, s.db, scanMapping, "get import mapping", mappingNotFound,
		"SELECT "+mappingCols+" FROM import_mappings WHERE user_id = ? AND id = ?", userID, id)
}

// List implements imports.Mappings.
func (s *ImportMappings) List(ctx context.Context, userID uuid.UUID) ([]imports.Mapping, error) {
	var out []imports.Mapping
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			m, err := scanMapping(r)
			if err == nil {
				out = append(out, *m)
			}
			return err
		}, "SELECT "+mappingCols+" FROM import_mappings WHERE user_id = ? ORDER BY name_key, id", userID)
	})
	if err != nil {
		return nil, fmt.Errorf("list import mappings: %w", err)
	}
	return out, nil
}

// Update implements imports.Mappings.
func (s *ImportMappings) Update(ctx context.Context, m *imports.Mapping) error {
	cj, err := json.Marshal(m.Columns)
	if err != nil {
		return fmt.Errorf("import mapping columns: %w", err)
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("UPDATE import_mappings SET name = ?, name_key = ?, columns = ?, version = ?, updated_at = ? WHERE user_id = ? AND id = ? AND version = ?",
			m.Name, nameKey(m.Name), string(cj), m.Version, normTime(m.UpdatedAt), m.UserID, m.ID, m.Version-1)
		if res.Error != nil {
			return fmt.Errorf("update import mapping: %w", mappingTaken(res.Error))
		}
		if res.RowsAffected != 1 {
			return missingOrStale(g, "import_mappings", "id = ? AND user_id = ?", []any{m.ID, m.UserID}, mappingNotFound())
		}
		return nil
	})
}

// Delete implements imports.Mappings.
func (s *ImportMappings) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("DELETE FROM import_mappings WHERE user_id = ? AND id = ?", userID, id)
		if res.Error != nil {
			return fmt.Errorf("delete import mapping: %w", translate(res.Error))
		}
		if res.RowsAffected == 0 {
			return mappingNotFound()
		}
		return nil
	})
}
