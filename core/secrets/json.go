package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tradesense/tradesense/core/apperr"
)

// errNotObject and errNoField are the only errors JSONField returns; they
// carry no part of the document (encoding/json's syntax errors quote the
// offending character, so they are never passed on).
var (
	errNotObject = errors.New("value is not a JSON object")
	errNoField   = errors.New("no such key in the JSON object")
	// ErrNotUTF8 is SetJSONField's error for a value a JSON string cannot
	// carry unchanged.
	ErrNotUTF8 = errors.New("value is not valid UTF-8 and cannot be stored in a JSON field")
)

// JSONField returns the field key of the JSON object doc: a string field as
// its text, any other field (number, bool, object, array, null) as its
// compact JSON encoding. Its errors satisfy IsNotJSONObject or IsNoSuchKey and
// never quote doc.
func JSONField(doc []byte, key string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		return "", errNotObject
	}
	raw, ok := m[key]
	if !ok {
		return "", errNoField
	}
	return rawToString(raw)
}

func rawToString(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errNotObject
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", errNotObject
	}
	return buf.String(), nil
}

// ExtractKey applies ref.Key to a whole value fetched by backend: it returns
// value unchanged when ref has no key, the field otherwise. Errors are
// apperr kinds naming backend and ref: NotFound for a missing key, Invalid
// (secret_value_malformed) for a value that is not a JSON object.
func ExtractKey(backend string, ref Ref, value Secret) (Secret, error) {
	if ref.Key == "" {
		return value, nil
	}
	field, err := JSONField([]byte(value.Reveal()), ref.Key)
	switch {
	case errors.Is(err, errNoField):
		return Secret{}, NotFound(backend, ref, nil)
	case err != nil:
		return Secret{}, Malformed(backend, ref, `"#key" needs a JSON object`)
	}
	return New(field, value.Version()), nil
}

// IsNotJSONObject reports whether err came from JSONField on a value that is
// not a JSON object.
func IsNotJSONObject(err error) bool { return errors.Is(err, errNotObject) }

// IsNoSuchKey reports whether err came from JSONField on an object without
// the key.
func IsNoSuchKey(err error) bool { return errors.Is(err, errNoField) }

// DatabaseURLFromJSON assembles a PostgreSQL URL from a JSON secret in the
// shape AWS RDS rotation stores:
//
//	{"engine":"postgres","host":"db.example","port":5432,"username":"app",
//	 "password":"...","dbname":"tradesense"}
//
// port may be a number or a string (default 5432); engine is optional and
// must be a PostgreSQL engine (postgres, postgresql, aurora-postgresql) when
// present; dbname defaults to username, as libpq does. query is appended as
// the URL's query string (for example sslmode=verify-full). Username,
// password and database name are URL-escaped, so any byte round-trips through
// net/url and pgx. The result is a Secret (it contains the password) with the
// version of doc. Errors are apperr.Invalid naming the offending field, never
// its value.
func DatabaseURLFromJSON(doc Secret, query url.Values) (Secret, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc.Reveal()), &m); err != nil || m == nil {
		return Secret{}, dbErr("the database secret is not a JSON object")
	}
	str := func(name string) (string, error) {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", dbErr(fmt.Sprintf("field %q must be a string", name))
		}
		return s, nil
	}
	engine, err := str("engine")
	if err != nil {
		return Secret{}, err
	}
	switch strings.ToLower(engine) {
	case "", "postgres", "postgresql", "aurora-postgresql":
	default:
		return Secret{}, dbErr(fmt.Sprintf("engine %q is not PostgreSQL", truncate(engine, 40)))
	}
	user, err := str("username")
	if err != nil {
		return Secret{}, err
	}
	pass, err := str("password")
	if err != nil {
		return Secret{}, err
	}
	host, err := str("host")
	if err != nil {
		return Secret{}, err
	}
	dbname, err := str("dbname")
	if err != nil {
		return Secret{}, err
	}
	port, err := dbPort(m["port"])
	if err != nil {
		return Secret{}, err
	}
	switch {
	case user == "":
		return Secret{}, dbErr(`field "username" is missing or empty`)
	case host == "":
		return Secret{}, dbErr(`field "host" is missing or empty`)
	case !validHost(host):
		return Secret{}, dbErr(`field "host" is not a host name or IP address`)
	case strings.ContainsRune(user+pass+dbname, 0):
		return Secret{}, dbErr("fields must not contain NUL bytes")
	}
	if dbname == "" {
		dbname = user
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, pass),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + dbname,
		RawPath:  "/" + url.PathEscape(dbname),
		RawQuery: query.Encode(),
	}
	return New(u.String(), doc.Version()), nil
}

func dbPort(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 5432, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, dbErr(`field "port" is malformed`)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strings.Trim(s, "0123456789") != "" {
		// strconv's error quotes its input: not wrapped.
		return 0, dbErr(`field "port" must be an integer between 1 and 65535`)
	}
	return n, nil
}

// validHost accepts DNS names and IP literals (IPv6 without brackets, as RDS
// stores them); it rejects anything that would change the URL's structure.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || c == '.' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func dbErr(msg string) error {
	return apperr.New(apperr.Invalid, CodeMalformedValue, "database URL secret: "+msg)
}

// SetJSONField returns the JSON object doc with field key set to the JSON
// string value and every other field kept with its value (the object is
// re-encoded compactly, keys sorted). An empty or nil doc is a new object.
// Its errors never quote doc or value: one satisfying IsNotJSONObject, or
// ErrNotUTF8 (a JSON string cannot hold the value without altering it).
func SetJSONField(doc []byte, key, value string) ([]byte, error) {
	if !utf8.ValidString(value) || !utf8.ValidString(key) {
		return nil, ErrNotUTF8
	}
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(doc)) > 0 {
		if err := json.Unmarshal(doc, &m); err != nil || m == nil {
			return nil, errNotObject
		}
	}
	v, err := marshalNoEscape(value)
	if err != nil {
		return nil, errNotObject
	}
	m[key] = v
	out, err := marshalNoEscape(m)
	if err != nil {
		return nil, errNotObject
	}
	return out, nil
}

// marshalNoEscape is json.Marshal without HTML escaping: secrets are not
// embedded in HTML, and "<" should stay readable in a KV editor.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
