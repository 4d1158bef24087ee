package secrets_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

func TestJSONField(t *testing.T) {
	doc := []byte(`{"s":"text","n":5432,"b":true,"o":{"a":[1, 2]},"z":null}`)
	for key, want := range map[string]string{"s": "text", "n": "5432", "b": "true", "o": `{"a":[1,2]}`, "z": "null"} {
		got, err := secrets.JSONField(doc, key)
		if err != nil || got != want {
			t.Errorf("JSONField(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	if _, err := secrets.JSONField(doc, "missing"); !secrets.IsNoSuchKey(err) {
		t.Errorf("missing key: %v", err)
	}
	for _, bad := range []string{"", "[1]", `"str"`, "null", "{bad json " + marker} {
		_, err := secrets.JSONField([]byte(bad), "k")
		if !secrets.IsNotJSONObject(err) {
			t.Errorf("JSONField(%q) error = %v, want not-an-object", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("error leaks the document: %v", err)
		}
	}
}

func TestExtractKeyErrors(t *testing.T) {
	ref := secrets.MustParseRef("env:DB#password")
	if _, err := secrets.ExtractKey("env", ref, secrets.New("x"+marker, "")); !apperr.Is(err, apperr.Invalid) || strings.Contains(err.Error(), marker) {
		t.Errorf("non-JSON value: %v", err)
	}
	if _, err := secrets.ExtractKey("env", ref, secrets.New(`{"user":"`+marker+`"}`, "")); !apperr.Is(err, apperr.NotFound) || strings.Contains(err.Error(), marker) {
		t.Errorf("missing key: %v", err)
	}
}

func TestDatabaseURLFromJSON(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		query url.Values
		want  string
	}{
		{`{"username":"app","password":"pw","host":"db.internal","port":5432,"dbname":"tradesense"}`, nil,
			"postgres://app:pw@db.internal:5432/tradesense"},
		{`{"engine":"postgres","username":"app","password":"p@ss:w/o?r#d%","host":"db","port":"6432","dbname":"trade sense"}`,
			url.Values{"sslmode": {"verify-full"}},
			"postgres://app:p%40ss%3Aw%2Fo%3Fr%23d%25@db:6432/trade%20sense?sslmode=verify-full"},
		{`{"engine":"aurora-postgresql","username":"u","password":"p","host":"2001:db8::1"}`, nil,
			"postgres://u:p@[2001:db8::1]:5432/u"},
	} {
		got, err := secrets.DatabaseURLFromJSON(secrets.New(tc.doc, "v9"), tc.query)
		if err != nil {
			t.Errorf("DatabaseURLFromJSON(%s): %v", tc.doc, err)
			continue
		}
		if got.Reveal() != tc.want {
			t.Errorf("DatabaseURLFromJSON(%s) = %s, want %s", tc.doc, got.Reveal(), tc.want)
		}
		if got.Version() != "v9" {
			t.Errorf("version %q, want the document's", got.Version())
		}
	}
}

func TestDatabaseURLFromJSONRejects(t *testing.T) {
	for _, doc := range []string{
		`not json ` + marker,
		`[]`,
		`{"password":"` + marker + `","host":"h"}`,
		`{"username":"u","password":"` + marker + `"}`,
		`{"username":"u","password":"` + marker + `","host":"h/evil@x"}`,
		`{"username":"u","password":"` + marker + `","host":"h","port":"` + marker + `"}`,
		`{"username":"u","password":"` + marker + `","host":"h","port":70000}`,
		`{"username":"u","password":"` + marker + `","host":"h","engine":"mysql"}`,
		`{"username":7,"password":"` + marker + `","host":"h"}`,
	} {
		_, err := secrets.DatabaseURLFromJSON(secrets.New(doc, ""), nil)
		if !apperr.Is(err, apperr.Invalid) {
			t.Errorf("DatabaseURLFromJSON(%s) = %v, want Invalid", doc, err)
			continue
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("error leaks a value: %v", err)
		}
	}
}

// FuzzDatabaseURLFromJSON checks that any accepted secret yields a URL that
// net/url (which pgx uses) parses back into exactly the fields it came from.
func FuzzDatabaseURLFromJSON(f *testing.F) {
	f.Add("app", "p@ss:w/o?r#d%", "db.internal", "5432", "tradesense")
	f.Add("u", "", "::1", "1", "")
	f.Add("ü s€r", "\x7f\t\n", "h_1", "65535", "a/b?c#d")
	f.Fuzz(func(t *testing.T, user, pass, host, port, dbname string) {
		for _, s := range []string{user, pass, host, port, dbname} {
			if !utf8.ValidString(s) {
				return // JSON text cannot carry it: json.Marshal would substitute U+FFFD
			}
		}
		doc, err := json.Marshal(map[string]string{"username": user, "password": pass, "host": host, "port": port, "dbname": dbname})
		if err != nil {
			t.Fatal(err)
		}
		got, err := secrets.DatabaseURLFromJSON(secrets.New(string(doc), ""), url.Values{"sslmode": {"require"}})
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("error kind %v, want Invalid", apperr.KindOf(err))
			}
			if pass != "" && len(pass) > 3 && strings.Contains(err.Error(), pass) {
				t.Fatalf("error leaks the password: %v", err)
			}
			return
		}
		u, err := url.Parse(got.Reveal())
		if err != nil {
			t.Fatalf("result does not parse: %v", err)
		}
		p, _ := u.User.Password()
		if dbname == "" {
			dbname = user
		}
		if u.Scheme != "postgres" || u.User.Username() != user || p != pass || u.Hostname() != host ||
			u.Port() != strings.TrimLeft(port, "0") && u.Port() != port || strings.TrimPrefix(u.Path, "/") != dbname ||
			u.Query().Get("sslmode") != "require" {
			t.Fatalf("round trip mismatch: user %q/%q pass ok=%v host %q/%q port %q/%q db %q/%q",
				u.User.Username(), user, p == pass, u.Hostname(), host, u.Port(), port, strings.TrimPrefix(u.Path, "/"), dbname)
		}
	})
}

func TestSecretSetJSONField(t *testing.T) {
	doc := []byte(`{"keep":{"n": [1, 2]},"k":"old","num":5432}`)
	out, err := secrets.SetJSONField(doc, "k", `new "quoted" <value> ü`)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"k": `new "quoted" <value> ü`, "keep": `{"n":[1,2]}`, "num": "5432"} {
		if got, err := secrets.JSONField(out, key); err != nil || got != want {
			t.Errorf("after SetJSONField: field %q = %q, %v; want %q", key, got, err, want)
		}
	}
	if !strings.Contains(string(out), `<value>`) {
		t.Errorf("the value was HTML-escaped: %s", out)
	}
	created, err := secrets.SetJSONField(nil, "only", "v")
	if err != nil || string(created) != `{"only":"v"}` {
		t.Errorf("SetJSONField on nothing = %s, %v", created, err)
	}
	for _, bad := range []string{"[1]", `"str"`, "null", "{bad json " + marker} {
		_, err := secrets.SetJSONField([]byte(bad), "k", "v")
		if !secrets.IsNotJSONObject(err) || strings.Contains(err.Error(), marker) {
			t.Errorf("SetJSONField(%q) error = %v, want not-an-object without the document", bad, err)
		}
	}
	if _, err := secrets.SetJSONField(nil, "k", "\xff"+marker); !errors.Is(err, secrets.ErrNotUTF8) || strings.Contains(err.Error(), marker) {
		t.Errorf("invalid UTF-8 value: %v", err)
	}
}
