package secrets_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/secrets"
)

const marker = "hunter2-S3CR3T-value"

type config struct {
	Name     string
	Password secrets.Secret
	Ptr      *secrets.Secret
	hidden   secrets.Secret
}

func TestSecretNeverPrintsItsValue(t *testing.T) {
	s := secrets.New(marker, "7")
	c := config{Name: "db", Password: s, Ptr: &s, hidden: s}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T %v", "%p"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c),
			fmt.Sprintf(verb, []secrets.Secret{s}), fmt.Sprintf(verb, map[string]secrets.Secret{"k": s}))
	}
	outputs = append(outputs, s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintln(s, c))

	for _, v := range []any{s, &s, c, map[string]any{"password": s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		outputs = append(outputs, string(b))
	}
	b, err := json.Marshal(map[secrets.Secret]int{s: 1})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(b))

	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("secret", "value", s, "ptr", &s, "config", c, slog.Any("any", s), slog.Group("g", "v", s))
		log.With("with", s).Info("with")
		outputs = append(outputs, buf.String())
	}

	for _, out := range outputs {
		if strings.Contains(out, marker) || strings.Contains(out, fmt.Sprintf("%x", marker)) {
			t.Errorf("leaked: %s", out)
		}
	}
	// Catch a vacuous test: the top-level renderings show the marker.
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%q", s), outputs[len(outputs)-1]} {
		if !strings.Contains(out, secrets.Redacted) {
			t.Errorf("%q does not show %s", out, secrets.Redacted)
		}
	}
}

func TestSecretAccessors(t *testing.T) {
	s := secrets.New(marker, "3")
	if s.Reveal() != marker || string(s.Bytes()) != marker || s.Version() != "3" || s.Len() != len(marker) {
		t.Fatalf("accessors: %q %q %q %d", s.Reveal(), s.Bytes(), s.Version(), s.Len())
	}
	b := s.Bytes()
	b[0] = 'X'
	if s.Reveal() != marker {
		t.Fatal("Bytes returned the Secret's own storage")
	}
	src := []byte("from-bytes")
	fb := secrets.FromBytes(src, "")
	src[0] = 'X'
	if fb.Reveal() != "from-bytes" {
		t.Fatal("FromBytes did not copy")
	}
	if !s.Equal(secrets.New(marker, "other-version")) || s.Equal(secrets.New(marker+"x", "3")) || s.Equal(secrets.Secret{}) {
		t.Fatal("Equal compares values, not versions")
	}
	var zero secrets.Secret
	if !zero.IsZero() || zero.Reveal() != "" || secrets.New("", "").IsZero() {
		t.Fatal("IsZero distinguishes unset from empty")
	}
}
