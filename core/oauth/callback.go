package oauth

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// CallbackParams are the parameters of an authorization response
// (RFC 6749 4.1.2 and 4.1.2.1, RFC 9207).
type CallbackParams struct {
	State            string
	Code             string
	Error            string
	ErrorDescription string
	Issuer           string
	IssuerGiven      bool
}

// Bounds on what a callback may carry: codes of real providers are a few
// hundred bytes; nothing legitimate comes near these.
const (
	maxCallbackQuery = 8 << 10
	maxCallbackValue = 2 << 10
)

var errCallbackMalformed = errors.New("malformed callback query")

// ParseCallback parses a callback's raw query string. It refuses, rather
// than guesses at, anything a provider does not send: a query over 8 KiB,
// a repeated parameter among state, code, error, error_description and
// iss, a value over 2 KiB, bad UTF-8 or control characters, a response
// with neither code nor error, or one with both. Other parameters are
// ignored (providers add their own, such as scope or authuser).
func ParseCallback(rawQuery string) (CallbackParams, error) {
	if len(rawQuery) > maxCallbackQuery {
		return CallbackParams{}, errCallbackMalformed
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return CallbackParams{}, errCallbackMalformed
	}
	var p CallbackParams
	for name, dst := range map[string]*string{"state": &p.State, "code": &p.Code, "error": &p.Error, "error_description": &p.ErrorDescription, "iss": &p.Issuer} {
		vs, ok := q[name]
		if !ok {
			continue
		}
		if len(vs) != 1 || len(vs[0]) > maxCallbackValue || !utf8.ValidString(vs[0]) || strings.ContainsFunc(vs[0], isControl) {
			return CallbackParams{}, errCallbackMalformed
		}
		*dst = vs[0]
		if name == "iss" {
			p.IssuerGiven = true
		}
	}
	if p.State == "" || (p.Code == "") == (p.Error == "") {
		return CallbackParams{}, errCallbackMalformed
	}
	return p, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
