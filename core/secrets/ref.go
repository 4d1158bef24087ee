package secrets

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tradesense/tradesense/core/apperr"
)

// The reference schemes. A setting whose value starts with one of these
// followed by ':' is a reference; anything else is a literal value.
const (
	SchemeEnv     = "env"
	SchemeFile    = "file"
	SchemeVault   = "vault"
	SchemeAWS     = "aws"
	SchemeLiteral = "literal"
)

// maxRefLen bounds a reference; real ones are a few dozen bytes and AWS caps
// secret ids at 2048.
const maxRefLen = 4096

// Ref is a parsed secret reference. It names where a secret lives, never the
// secret itself, so it may be logged and put in span attributes. Ref is
// comparable and used as a cache key. Build it with ParseRef, which
// validates it; the zero Ref is invalid.
//
// Syntax (scheme is lower case; '?' and '#' are reserved in paths):
//
//	env:NAME[#key]                      environment variable NAME
//	file:/abs/path[#key]                a file (absolute path)
//	file:rel/path[#key]                 a file under the file provider's directory (SECRETS_DIR)
//	vault:<mount>/<path>[?version=N][#key]
//	                                    Vault KV; <mount> is the first segment, or everything
//	                                    before "/data/" when the path is written as a KV v2 API
//	                                    path (vault:secret/data/app#k == vault:secret/app#k).
//	                                    Without #key the whole KV data map, as a JSON object.
//	aws:<secret-id>[?stage=S][&version=V][#key]
//	                                    AWS Secrets Manager; secret-id is a name or an ARN;
//	                                    stage defaults to AWSCURRENT (AWSPREVIOUS, AWSPENDING, or
//	                                    a custom label); version is a VersionId.
//	literal:<value>                     the value itself (escape hatch for literals that
//	                                    would otherwise parse as a reference)
//
// "#key" selects a field of a JSON object (for Vault, of the KV data map);
// a string field yields its text, any other field its JSON encoding. The query
// must come before "#key". A value with no known scheme (for example a plain
// password or "postgres://...") is a literal: allowed in development, refused
// for required secrets in production.
type Ref struct {
	Scheme  string // one of SchemeEnv, SchemeFile, SchemeVault, SchemeAWS
	Path    string // variable name, file path, Vault mount/path, AWS secret id
	Key     string // JSON field to extract; "" for the whole value
	Version string // Vault KV version number or AWS VersionId; "" for the current one
	Stage   string // AWS staging label; "" means AWSCURRENT
}

// String returns the canonical form of the reference; ParseRef(r.String())
// returns r.
func (r Ref) String() string {
	var b strings.Builder
	b.Grow(len(r.Scheme) + len(r.Path) + len(r.Key) + len(r.Version) + len(r.Stage) + 20)
	b.WriteString(r.Scheme)
	b.WriteByte(':')
	b.WriteString(r.Path)
	sep := byte('?')
	if r.Stage != "" {
		b.WriteByte(sep)
		b.WriteString("stage=")
		b.WriteString(url.QueryEscape(r.Stage))
		sep = '&'
	}
	if r.Version != "" {
		b.WriteByte(sep)
		b.WriteString("version=")
		b.WriteString(url.QueryEscape(r.Version))
	}
	if r.Key != "" {
		b.WriteByte('#')
		b.WriteString(r.Key)
	}
	return b.String()
}

// IsRef reports whether s is written as a reference (env:, file:, vault:,
// aws:). It does not validate the rest; ParseRef does. "literal:..." and
// plain values are not references.
func IsRef(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	switch scheme {
	case SchemeEnv, SchemeFile, SchemeVault, SchemeAWS:
		return true
	}
	return false
}

// Literal returns the literal value a non-reference setting stands for: the
// text after "literal:", or s itself. ok is false when s is a reference.
func Literal(s string) (value string, ok bool) {
	if IsRef(s) {
		return "", false
	}
	if v, found := strings.CutPrefix(s, SchemeLiteral+":"); found {
		return v, true
	}
	return s, true
}

// ParseRef parses a reference. It fails with an apperr.Invalid error when s
// is not a reference or is malformed. The message names the scheme and the
// reason but does not quote s: a mistyped literal that happens to start with
// "vault:" must not end up in a log. Callers add the setting's name.
func ParseRef(s string) (Ref, error) {
	if !IsRef(s) {
		return Ref{}, apperr.New(apperr.Invalid, CodeInvalid,
			"not a secret reference (want env:, file:, vault: or aws:)")
	}
	r, reason := parseRef(s)
	if reason != "" {
		r.Scheme, _, _ = strings.Cut(s, ":")
		return Ref{}, apperr.New(apperr.Invalid, CodeInvalid,
			fmt.Sprintf("invalid %s: secret reference: %s", r.Scheme, reason))
	}
	return r, nil
}

// MustParseRef is ParseRef for references written in code and tests.
func MustParseRef(s string) Ref {
	r, err := ParseRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func parseRef(s string) (Ref, string) {
	if len(s) > maxRefLen {
		return Ref{}, fmt.Sprintf("longer than %d bytes", maxRefLen)
	}
	if !utf8.ValidString(s) {
		return Ref{}, "not valid UTF-8"
	}
	scheme, rest, _ := strings.Cut(s, ":")
	r := Ref{Scheme: scheme}

	if i := strings.IndexByte(rest, '#'); i >= 0 {
		r.Key = rest[i+1:]
		rest = rest[:i]
		if r.Key == "" {
			return Ref{}, `empty key after "#"`
		}
		if strings.ContainsAny(r.Key, "#?") {
			return Ref{}, `key contains "#" or "?" (write the ?query before the #key)`
		}
		if hasControl(r.Key) {
			return Ref{}, "key contains control characters"
		}
	}
	var query string
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		query = rest[i+1:]
		rest = rest[:i]
	}
	r.Path = rest
	if reason := r.parseQuery(query); reason != "" {
		return Ref{}, reason
	}

	switch scheme {
	case SchemeEnv:
		if !isEnvName(r.Path) {
			return Ref{}, "environment variable name must match [A-Za-z_][A-Za-z0-9_]*"
		}
	case SchemeFile:
		if r.Path == "" {
			return Ref{}, "empty file path"
		}
		if hasControl(r.Path) {
			return Ref{}, "file path contains control characters"
		}
		if filepath.IsAbs(r.Path) {
			r.Path = filepath.Clean(r.Path)
		} else {
			if !filepath.IsLocal(r.Path) {
				return Ref{}, "relative file path must stay inside the secrets directory"
			}
			r.Path = filepath.Clean(r.Path)
		}
	case SchemeVault:
		if reason := checkSegments(r.Path); reason != "" {
			return Ref{}, reason
		}
		if !strings.Contains(r.Path, "/") {
			return Ref{}, "want <mount>/<path>"
		}
		if r.Version != "" {
			n, err := strconv.ParseUint(r.Version, 10, 31)
			if err != nil || n == 0 || r.Version[0] == '0' {
				return Ref{}, "version must be a positive integer"
			}
		}
	case SchemeAWS:
		if r.Path == "" {
			return Ref{}, "empty secret id"
		}
		if len(r.Path) > 2048 {
			return Ref{}, "secret id longer than 2048 bytes"
		}
		if strings.IndexFunc(r.Path, unicode.IsSpace) >= 0 || hasControl(r.Path) {
			return Ref{}, "secret id contains spaces or control characters"
		}
		if r.Version != "" && !isToken(r.Version, 64) {
			return Ref{}, "version must be an AWS VersionId"
		}
	}
	return r, ""
}

// parseQuery fills Version and Stage. Only the parameters each scheme
// understands are accepted, so a typo is an error, not a silently ignored
// option.
func (r *Ref) parseQuery(query string) string {
	if query == "" {
		return ""
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return "malformed query"
	}
	for name, v := range vals {
		if len(v) != 1 || v[0] == "" {
			return fmt.Sprintf("parameter %q must appear once with a value", name)
		}
		switch {
		case name == "version" && (r.Scheme == SchemeVault || r.Scheme == SchemeAWS):
			r.Version = v[0]
		case name == "stage" && r.Scheme == SchemeAWS:
			if !isToken(v[0], 256) {
				return "stage must be a staging label such as AWSCURRENT or AWSPREVIOUS"
			}
			r.Stage = v[0]
		default:
			return fmt.Sprintf("unknown parameter %q for scheme %s", truncate(name, 40), r.Scheme)
		}
	}
	return ""
}

func checkSegments(p string) string {
	if p == "" {
		return "empty path"
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return "empty path segment (leading, trailing or double '/')"
		case ".", "..":
			return `path segments "." and ".." are not allowed`
		}
	}
	if strings.IndexFunc(p, unicode.IsSpace) >= 0 || hasControl(p) {
		return "path contains spaces or control characters"
	}
	return ""
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// isToken accepts the characters AWS allows in staging labels and version ids.
func isToken(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c == '.' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
