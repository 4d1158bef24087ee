package smtp_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/adapters/smtp"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/notifications"
)

// TestSenderAddress: the port follows the scheme (587 for STARTTLS,
// 465 for implicit TLS) unless the URL names one; every tls= policy and
// a HELO name are accepted.
func TestSenderAddress(t *testing.T) {
	for url, want := range map[string]string{
		"smtp://mail.example.com":                            "mail.example.com:587",
		"smtps://mail.example.com":                           "mail.example.com:465",
		"smtps://mail.example.com:2465":                      "mail.example.com:2465",
		"smtp://u:p@mail.example.com:2525?tls=opportunistic": "mail.example.com:2525",
		"smtp://mail.example.com?tls=none":                   "mail.example.com:587",
		"smtp://mail.example.com?tls=starttls":               "mail.example.com:587",
	} {
		s, err := smtp.New(smtp.Config{URL: url, HELO: "api.tradesense.example"})
		if err != nil {
			t.Errorf("New(%s): %v", url, err)
			continue
		}
		if s.Addr() != want {
			t.Errorf("New(%s).Addr() = %s; want %s", url, s.Addr(), want)
		}
	}
}

// TestSenderRefusesABadRecipientBeforeDialling: a recipient that is not
// an address is a permanent Invalid error (the job is not retried), found
// without connecting to the server (the URL's port is closed).
func TestSenderRefusesABadRecipientBeforeDialling(t *testing.T) {
	s, err := smtp.New(smtp.Config{URL: "smtp://127.0.0.1:1?tls=none"})
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	m.To = "not an address"
	err = s.Send(context.Background(), m)
	if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != notifications.CodeInvalidAddress {
		t.Fatalf("Send to %q = %v; want Invalid %s", m.To, err, notifications.CodeInvalidAddress)
	}
}

func TestOutboxDefaultsAndFailures(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := smtp.NewOutbox(dir, "", log)
	if err != nil {
		t.Fatal(err)
	}
	if o.Dir() != dir {
		t.Fatalf("Dir() = %s; want %s", o.Dir(), dir)
	}
	// Without an ID the file is named by the time; odd characters of an
	// ID never reach the file name.
	m := message()
	m.ID = ""
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	m.ID = "../../etc/passwd"
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 2 {
		t.Fatalf("outbox = %v; want two messages", files)
	}
	var named bool
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if !strings.Contains(string(raw), "From: \"TradeSense\" <no-reply@localhost>") {
			t.Errorf("%s is not from the default sender:\n%s", f, raw)
		}
		if filepath.Dir(f) == dir && strings.HasSuffix(f, "-______etc_passwd.eml") {
			named = true
		}
	}
	if !named {
		t.Errorf("the unsafe ID was not made safe: %v", files)
	}

	m.To = "nobody"
	if err := o.Send(context.Background(), m); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("outbox Send to %q = %v; want Invalid", m.To, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), message()); !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != notifications.CodeMailDown {
		t.Errorf("Send into a removed outbox = %v; want Unavailable %s", err, notifications.CodeMailDown)
	}

	if _, err := smtp.NewOutbox(dir, "not an address", log); err == nil {
		t.Error("NewOutbox accepted a bad MAIL_FROM")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := smtp.NewOutbox(filepath.Join(file, "outbox"), "", log); err == nil {
		t.Error("NewOutbox under a file succeeded")
	}
}
