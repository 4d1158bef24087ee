package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// HistorySuffix names where the keys a key setting replaced are kept: the
// field <key>_previous of the same JSON object for a reference with #key,
// the sibling <path>.previous for a whole-file or whole-AWS-secret
// reference.
const HistorySuffix = "_previous"

// MaxHistoryEntries bounds a key history: a document an attacker or a
// mistake made huge must not turn into thousands of derived keys.
const MaxHistoryEntries = 64

// maxHistoryBytes bounds the encoded history before it is parsed.
const maxHistoryBytes = 256 << 10

// HistoryRef returns the reference of the key history kept beside the key
// setting read through ref (see HistorySuffix). A reference that pins a
// version or stage, a Vault reference without #key (the whole data map is
// not a key), an AWS ARN without #key (no sibling name can be derived from
// it) and env: references have no history: the error (Invalid) says why.
func HistoryRef(ref Ref) (Ref, error) {
	h := ref
	switch {
	case ref.Version != "" || ref.Stage != "":
		return Ref{}, Invalid(ref.Scheme, ref, "the reference pins a version or stage: rotating it would not change what it reads")
	case ref.Scheme == SchemeEnv:
		return Ref{}, ReadOnly(ref.Scheme, ref, envReadOnlyReason)
	case ref.Key != "":
		h.Key = ref.Key + HistorySuffix
	case ref.Scheme == SchemeVault:
		return Ref{}, Invalid(ref.Scheme, ref, "a key kept in Vault must be a field: write the reference with #key")
	case ref.Scheme == SchemeAWS && strings.HasPrefix(ref.Path, "arn:"):
		return Ref{}, Invalid(ref.Scheme, ref, "a key kept in a whole secret named by ARN has no place for its history: use the secret's name, or a JSON secret and #key")
	default:
		h.Path = ref.Path + ".previous"
	}
	parsed, err := ParseRef(h.String())
	if err != nil {
		return Ref{}, err
	}
	return parsed, nil
}

// envReadOnlyReason explains why env: references cannot be written.
const envReadOnlyReason = "a process cannot change the environment of the running services: " +
	"keep the key in Vault, AWS Secrets Manager or a file and point the setting at it"

// EnvReadOnlyReason is the reason envsecrets gives for refusing writes.
func EnvReadOnlyReason() string { return envReadOnlyReason }

// RetiredKey is a key a setting replaced, kept so that what it signed or
// sealed stays readable.
type RetiredKey struct {
	// Value is the key.
	Value Secret
	// Version is the version label the key had when it was current.
	Version string
	// RetiredAt is when it stopped being current.
	RetiredAt time.Time
	// Until is when it stops being accepted (JWT: the last token it signed
	// has expired); zero means it is kept until removed (MFA: secrets and
	// backup codes sealed or hashed under it may be anywhere).
	Until time.Time
}

// Expired reports whether k is no longer accepted at now.
func (k RetiredKey) Expired(now time.Time) bool {
	return !k.Until.IsZero() && !now.Before(k.Until)
}

// KeyHistory is the list of keys a key setting replaced, newest first, as
// kept beside the setting (HistoryRef) by `tradesense secrets rotate` and
// read by the running services.
type KeyHistory struct {
	Keys []RetiredKey
}

// historyDoc is the stored form:
//
//	{"v":1,"keys":[{"key":"…","version":"4","retired_at":"…Z","until":"…Z"}]}
type historyDoc struct {
	V    int          `json:"v"`
	Keys []historyKey `json:"keys"`
}

type historyKey struct {
	Key       string     `json:"key"`
	Version   string     `json:"version,omitempty"`
	RetiredAt time.Time  `json:"retired_at"`
	Until     *time.Time `json:"until,omitempty"`
}

// errHistory is ParseKeyHistory's only cause; it never quotes the input.
var errHistory = errors.New("malformed key history")

// ParseKeyHistory decodes a stored key history. The zero Secret and the
// empty string are an empty history. Errors are Invalid
// (secret_value_malformed) and name what is wrong, never a value.
func ParseKeyHistory(s Secret) (KeyHistory, error) {
	raw := s.Reveal()
	if strings.TrimSpace(raw) == "" {
		return KeyHistory{}, nil
	}
	if len(raw) > maxHistoryBytes {
		return KeyHistory{}, historyErr(fmt.Sprintf("larger than %d bytes", maxHistoryBytes))
	}
	var doc historyDoc
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		// encoding/json's errors may quote the input: not wrapped.
		return KeyHistory{}, historyErr("not a key history JSON object")
	}
	if dec.More() {
		return KeyHistory{}, historyErr("trailing data after the JSON object")
	}
	switch {
	case doc.V != 1:
		return KeyHistory{}, historyErr(fmt.Sprintf("unknown format version %d (want 1)", doc.V))
	case len(doc.Keys) > MaxHistoryEntries:
		return KeyHistory{}, historyErr(fmt.Sprintf("more than %d keys", MaxHistoryEntries))
	}
	h := KeyHistory{Keys: make([]RetiredKey, 0, len(doc.Keys))}
	for i, k := range doc.Keys {
		if k.Key == "" {
			return KeyHistory{}, historyErr(fmt.Sprintf("key %d is empty", i))
		}
		if k.RetiredAt.IsZero() {
			return KeyHistory{}, historyErr(fmt.Sprintf("key %d has no retired_at", i))
		}
		rk := RetiredKey{Value: New(k.Key, ""), Version: k.Version, RetiredAt: k.RetiredAt.UTC()}
		if k.Until != nil {
			rk.Until = k.Until.UTC()
		}
		h.Keys = append(h.Keys, rk)
	}
	return h, nil
}

func historyErr(reason string) error {
	return apperr.Wrap(errHistory, apperr.Invalid, CodeMalformedValue, "key history: "+reason)
}

// Encode returns the stored form of h, a Secret (it holds keys).
func (h KeyHistory) Encode() (Secret, error) {
	if len(h.Keys) > MaxHistoryEntries {
		return Secret{}, historyErr(fmt.Sprintf("more than %d keys: remove old ones first", MaxHistoryEntries))
	}
	doc := historyDoc{V: 1, Keys: make([]historyKey, 0, len(h.Keys))}
	for _, k := range h.Keys {
		hk := historyKey{Key: k.Value.Reveal(), Version: k.Version, RetiredAt: k.RetiredAt.UTC()}
		if !k.Until.IsZero() {
			u := k.Until.UTC()
			hk.Until = &u
		}
		doc.Keys = append(doc.Keys, hk)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return Secret{}, historyErr("cannot encode")
	}
	return New(strings.TrimRight(buf.String(), "\n"), ""), nil
}

// Accepted returns the keys of h still accepted at now, newest first.
func (h KeyHistory) Accepted(now time.Time) []RetiredKey {
	return slices.DeleteFunc(slices.Clone(h.Keys), func(k RetiredKey) bool { return k.Expired(now) })
}

// Retire returns h with current added first (retired at now, accepted
// until until; zero: kept) and the expired keys dropped. A key already in h
// with the same value is replaced, so retiring twice keeps one entry.
func (h KeyHistory) Retire(current Secret, version string, now, until time.Time) KeyHistory {
	keys := []RetiredKey{{Value: current, Version: version, RetiredAt: now, Until: until}}
	for _, k := range h.Accepted(now) {
		if !k.Value.Equal(current) {
			keys = append(keys, k)
		}
	}
	return KeyHistory{Keys: keys}
}

// Without returns h without the keys equal to v.
func (h KeyHistory) Without(v Secret) KeyHistory {
	return KeyHistory{Keys: slices.DeleteFunc(slices.Clone(h.Keys), func(k RetiredKey) bool { return k.Value.Equal(v) })}
}
