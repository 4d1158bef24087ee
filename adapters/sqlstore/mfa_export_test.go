package sqlstore

import "context"

// MFARowsForTest returns every stored column of the user's MFA rows as
// raw bytes (factor first, then backup codes), for tests that prove no
// plaintext secret or code reaches the database.
func MFARowsForTest(ctx context.Context, db *DB, userID string) ([][]byte, error) {
	g, release, err := db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var out [][]byte
	for _, q := range []string{
		"SELECT key_id, secret_ciphertext, last_step, enabled_at, updated_at FROM mfa_factors WHERE user_id = ?",
		"SELECT hash, created_at, used_at, user_id FROM mfa_backup_codes WHERE user_id = ?",
	} {
		rows, err := g.Raw(q, userID).Rows()
		if err != nil {
			return nil, err
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			for _, v := range vals {
				switch x := v.(type) {
				case []byte:
					out = append(out, x)
				case string:
					out = append(out, []byte(x))
				}
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
