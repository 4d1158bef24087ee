package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/trading"
)

// ListBothWaysForTest runs one page through listPg (raw text on
// PostgreSQL) and through listPortable (database/sql), returning both
// pages and their sort keys; ok is false off PostgreSQL.
func ListBothWaysForTest(ctx context.Context, db *DB, userID uuid.UUID, f trading.Filter, srt trading.Sort, p trading.Page) (raw, portable []trading.Trade, rawKeys, portableKeys []string, ok bool, err error) {
	s := &Ledger{db: db}
	q, args, _, err := s.listQuery(userID, f, srt, p)
	if err != nil {
		return nil, nil, nil, nil, false, err
	}
	if ok, err = s.listPg(ctx, q, args, p.Size(), &raw, &rawKeys); !ok || err != nil {
		return nil, nil, nil, nil, ok, err
	}
	err = s.listPortable(ctx, q, args, p.Size(), &portable, &portableKeys)
	return raw, portable, rawKeys, portableKeys, true, err
}
