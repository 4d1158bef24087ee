package sqlstore

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		raw, dataDir string
		dialect      Dialect
		where        string
		wantErr      bool
	}{
		{"", "/var/data", SQLite, "/var/data/tradesense.db", false},
		{"sqlite://data/app.db", "", SQLite, "data/app.db", false},
		{"sqlite:///abs/app.db", "", SQLite, "/abs/app.db", false},
		{"sqlite://my%20db.db", "", SQLite, "my db.db", false},
		{"sqlite://:memory:", "", SQLite, ":memory:", false},
		{"postgres://u:pw@db.internal:6543/trades?sslmode=require", "", Postgres, "db.internal:6543/trades", false},
		{"postgresql://u@[::1]/x", "", Postgres, "[::1]:5432/x", false},
		{"sqlite://", "", "", "", true},
		{"sqlite://a.db?x=1", "", "", "", true},
		{"sqlite://%zz", "", "", "", true},
		{"mysql://u@h/db", "", "", "", true},
		{"/just/a/path", "", "", "", true},
	} {
		got, err := parseTarget(tc.raw, tc.dataDir)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseTarget(%q) error = %v; want error %v", tc.raw, err, tc.wantErr)
			continue
		}
		if err == nil && (got.dialect != tc.dialect || got.where != tc.where) {
			t.Errorf("parseTarget(%q) = %s %q; want %s %q", tc.raw, got.dialect, got.where, tc.dialect, tc.where)
		}
	}
}

// FuzzParseTarget: parseTarget never panics, a success always names a
// place, and neither the error nor the name ever carries the password.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"postgres://user:hunter2-secret@localhost:5432/db?sslmode=disable",
		"postgresql://u:p%40ss-word@h/db",
		"postgres://u:pw-secret-9@h:badport/db",
		"sqlite://data/x.db", "sqlite://u:secret-pw@host/x.db", "sqlite:///tmp/x.db", "sqlite://:memory:", "sqlite://%zz",
		"mysql://u:pw-secret-9@h/db", "", "://", "postgres://", "postgres://[::1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseTarget(raw, "data")
		if err == nil && (got.where == "" || (got.dialect == SQLite && got.sqlitePath == "")) {
			t.Fatalf("parseTarget(%q) succeeded without a place: %+v", raw, got)
		}
		u, perr := url.Parse(raw)
		if perr != nil || u.User == nil {
			return
		}
		pw, ok := u.User.Password()
		if !ok || len(pw) < 6 {
			return
		}
		text := got.where
		if err != nil {
			text = err.Error()
		}
		if strings.Contains(text, pw) {
			t.Fatalf("parseTarget(%q) exposes the password %q in %q", raw, pw, text)
		}
	})
}
