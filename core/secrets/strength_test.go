package secrets_test

import (
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

func TestStrong(t *testing.T) {
	for _, tc := range []struct {
		value *string
		code  string
	}{
		{nil, "secret_missing"},
		{ptr(""), "secret_missing"},
		{ptr("short-but-random-9f8e"), "secret_too_short"},
		{ptr("changeme"), "secret_placeholder"},
		{ptr("fallback-secret"), "secret_placeholder"},
		{ptr("SECRET"), "secret_placeholder"},
		{ptr(strings.Repeat("secret", 8)), "secret_placeholder"},
		{ptr("please-changeme-before-going-live-ok"), "secret_placeholder"},
		{ptr(strings.Repeat("a", 48)), "secret_placeholder"},
		{ptr("Yq3v9QeM1uKp7ZsT0bWc5xHn2LrJ8dFg4AiE6oNk"), ""},
	} {
		s := secrets.Secret{}
		if tc.value != nil {
			s = secrets.New(*tc.value, "")
		}
		err := secrets.Strong("JWT_SIGNING_KEY", s, secrets.MinStrongLen)
		if tc.code == "" {
			if err != nil {
				t.Errorf("Strong(%q) = %v, want nil", s.Reveal(), err)
			}
			continue
		}
		if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != tc.code {
			t.Errorf("Strong(%q) = %v, want code %s", s.Reveal(), err, tc.code)
			continue
		}
		if !strings.Contains(err.Error(), "JWT_SIGNING_KEY") {
			t.Errorf("error %q does not name the setting", err)
		}
		if tc.value != nil && *tc.value != "" && strings.Contains(err.Error(), *tc.value) {
			t.Errorf("error %q leaks the value", err)
		}
	}
}

func ptr(s string) *string { return &s }
