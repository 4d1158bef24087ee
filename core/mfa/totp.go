package mfa

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/tradesense/tradesense/core/apperr"
)

// TOTP are RFC 6238 parameters. The algorithm is SHA-1, the one every
// authenticator app implements.
type TOTP struct {
	Digits int           // 6
	Period time.Duration // 30s
	Skew   int           // steps accepted either side of now: 1
}

// DefaultTOTP returns SHA-1, 6 digits, 30 s, ±1 step.
func DefaultTOTP() TOTP { return TOTP{Digits: 6, Period: 30 * time.Second, Skew: 1} }

func (p TOTP) validate() error {
	if (p.Digits != 6 && p.Digits != 8) || p.Period < time.Second || p.Period%time.Second != 0 || p.Skew < 0 || p.Skew > 2 {
		return apperr.New(apperr.Invalid, "mfa_config_invalid", "mfa: TOTP needs 6 or 8 digits, a whole-second period and a skew of 0-2")
	}
	return nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Step is the RFC 6238 time step of t (T0 = 0).
func (p TOTP) Step(t time.Time) int64 {
	sec := t.Unix()
	per := int64(p.Period / time.Second)
	if sec < 0 {
		return (sec - per + 1) / per
	}
	return sec / per
}

// Code returns the code of step for secret (raw bytes), computed by
// pquerna/otp.
func (p TOTP) Code(secret []byte, step int64) (string, error) {
	return hotp.GenerateCodeCustom(b32.EncodeToString(secret), uint64(step), hotp.ValidateOpts{ // #nosec G115 -- steps count from 1970: never negative
		Digits: otp.Digits(p.Digits), Algorithm: otp.AlgorithmSHA1,
	})
}

// Match reports the newest time step within ±Skew of now whose code
// equals code (the newest, so that a code that is fresh is never mistaken
// for a replay of an older step with the same digits). code must come from
// ParseCode. Every candidate is computed and compared in constant time.
func (p TOTP) Match(secret []byte, code string, now time.Time) (step int64, ok bool, err error) {
	if len(code) != p.Digits {
		return 0, false, nil
	}
	enc := b32.EncodeToString(secret)
	opts := hotp.ValidateOpts{Digits: otp.Digits(p.Digits), Algorithm: otp.AlgorithmSHA1}
	cur := p.Step(now)
	for s := cur - int64(p.Skew); s <= cur+int64(p.Skew); s++ {
		if s < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(enc, uint64(s), opts)
		if err != nil {
			return 0, false, fmt.Errorf("mfa: totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, ok = s, true
		}
	}
	return step, ok, nil
}

// MaxInputLen bounds what the parsers look at: longer input is refused
// before any work.
const MaxInputLen = 64

// ParseCode normalises a typed TOTP code: surrounding and inner spaces and
// dashes go ("123 456", "123-456"); what remains must be exactly digits
// ASCII digits.
func ParseCode(in string, digits int) (string, bool) {
	if len(in) > MaxInputLen {
		return "", false
	}
	out := make([]byte, 0, digits)
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c >= '0' && c <= '9':
			if len(out) == digits {
				return "", false
			}
			out = append(out, c)
		case c == ' ' || c == '-' || c == '\t':
		default:
			return "", false
		}
	}
	if len(out) != digits {
		return "", false
	}
	return string(out), true
}

// SecretBytes is the size of a new TOTP secret (160 bits, RFC 4226's
// recommendation for SHA-1).
const SecretBytes = 20

// Enrolment is what a user needs to add the account to an app.
type Enrolment struct {
	Secret     string // base32, no padding
	OTPAuthURL string
	QRCodePNG  []byte
	ExpiresAt  time.Time
}

// newKey builds the otpauth:// key for secret (pquerna/otp escapes issuer
// and account) and renders its QR code as PNG.
func (p TOTP) newKey(issuer, account string, secret []byte, qrSize int) (url string, qr []byte, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(p.Period / time.Second), // #nosec G115 -- a positive period
		Secret: secret, Digits: otp.Digits(p.Digits), Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", nil, fmt.Errorf("mfa: otpauth key: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return "", nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", nil, fmt.Errorf("mfa: QR PNG: %w", err)
	}
	return key.URL(), buf.Bytes(), nil
}
