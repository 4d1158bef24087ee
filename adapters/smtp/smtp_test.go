package smtp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/tradesense/tradesense/adapters/smtp"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/notifications"
)

// server is an in-process SMTP server (emersion/go-smtp) that records what
// it receives and answers RCPT with rcptErr when set.
type server struct {
	mu       sync.Mutex
	received [][]byte
	rcptErr  error
	authed   []string
}

func (s *server) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &session{s: s}, nil }

type session struct{ s *server }

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "mailer" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		x.s.mu.Lock()
		x.s.authed = append(x.s.authed, user)
		x.s.mu.Unlock()
		return nil
	}), nil
}
func (x *session) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *session) Rcpt(string, *gosmtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	return x.s.rcptErr
}
func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.received = append(x.s.received, b)
	x.s.mu.Unlock()
	return nil
}
func (x *session) Reset()        {}
func (x *session) Logout() error { return nil }

func startServer(t *testing.T) (*server, string) {
	be := &server{}
	srv := gosmtp.NewServer(be)
	srv.AllowInsecureAuth = true
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return be, ln.Addr().String()
}

func message() notifications.Message {
	return notifications.Message{ID: "0190aaaa-0000-7000-8000-000000000001", To: "ann@example.com", Subject: "Your report is ready ✓",
		Text: "Hello Ann,\nyour report is ready.", HTML: "<p>Hello Ann, your <b>report</b> is ready.</p>", Tags: []string{"reports_ready"}}
}

func TestSMTPSendsMultipartMessage(t *testing.T) {
	be, addr := startServer(t)
	s, err := smtp.New(smtp.Config{URL: "smtp://mailer:s3cret@" + addr + "?tls=none", From: "TradeSense <no-reply@tradesense.example>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.received) != 1 || len(be.authed) != 1 {
		t.Fatalf("received %d messages, %d auths", len(be.received), len(be.authed))
	}
	checkMIME(t, be.received[0])
}

// checkMIME parses a received message: headers, and both parts.
func checkMIME(t *testing.T, raw []byte) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if subj != "Your report is ready ✓" || msg.Header.Get("To") != "<ann@example.com>" ||
		!strings.Contains(msg.Header.Get("From"), "no-reply@tradesense.example") ||
		msg.Header.Get("Message-Id") != "<0190aaaa-0000-7000-8000-000000000001@tradesense.example>" ||
		msg.Header.Get("X-Tradesense-Tags") != "reports_ready" || msg.Header.Get("Date") == "" {
		t.Fatalf("headers = %v (subject %q)", msg.Header, subj)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		parts[ct] = string(b)
	}
	if !strings.Contains(parts["text/plain"], "your report is ready.") || !strings.Contains(parts["text/html"], "<b>report</b>") {
		t.Fatalf("parts = %v", parts)
	}
}

func TestSMTPErrorsAreClassified(t *testing.T) {
	be, addr := startServer(t)
	s, err := smtp.New(smtp.Config{URL: "smtp://" + addr + "?tls=none", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	be.rcptErr = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
	if err := s.Send(context.Background(), message()); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("450: %v, want Unavailable (retried)", err)
	}
	be.rcptErr = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	if err := s.Send(context.Background(), message()); !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != notifications.CodeRejected {
		t.Fatalf("550: %v, want Invalid email_rejected (dead)", err)
	}
	down, _ := smtp.New(smtp.Config{URL: "smtp://127.0.0.1:1?tls=none", Timeout: time.Second})
	if err := down.Send(context.Background(), message()); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("no server: %v, want Unavailable", err)
	}
	if strings.Contains(errorsOf(down.Send(context.Background(), message())), "s3cret") {
		t.Fatal("password in error")
	}
}

func errorsOf(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSMTPRequiresSTARTTLSByDefault(t *testing.T) {
	be, addr := startServer(t) // offers no STARTTLS
	s, err := smtp.New(smtp.Config{URL: "smtp://" + addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), message()); err == nil {
		t.Fatal("sent without TLS although STARTTLS is required by default")
	}
	if len(be.received) != 0 {
		t.Fatal("message delivered in clear text")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, u := range []string{"", "http://x", "smtp://", "smtp://h:99999", "smtp://h?tls=maybe"} {
		if _, err := smtp.New(smtp.Config{URL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	if _, err := smtp.New(smtp.Config{URL: "smtp://h", From: "not an address"}); err == nil {
		t.Error("bad MAIL_FROM accepted")
	}
	_, err := smtp.New(smtp.Config{URL: "smtp://user:hunter2@:bad"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v leaks the password or accepts a bad URL", err)
	}
}

func TestOutboxWritesEMLAndLogs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	var logs strings.Builder
	o, err := smtp.NewOutbox(dir, "TradeSense <no-reply@tradesense.example>", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 || !strings.Contains(files[0], "0190aaaa-0000-7000-8000-000000000001") {
		t.Fatalf("outbox files = %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	checkMIME(t, raw)
	if !strings.Contains(logs.String(), "email written to the outbox") || !strings.Contains(logs.String(), "ann@example.com") {
		t.Fatalf("log = %s", logs.String())
	}
	// Beside it, a plain-text copy a person can copy a link from: the text
	// part verbatim, no quoted-printable soft breaks or =3D (issue 11 item 8).
	txt, err := os.ReadFile(strings.TrimSuffix(files[0], ".eml") + ".txt")
	if err != nil {
		t.Fatalf("no plain-text copy: %v", err)
	}
	m := message()
	if !strings.HasSuffix(string(txt), "\n\n"+m.Text) || !strings.Contains(string(txt), "To: "+m.To+"\n") || !strings.Contains(string(txt), "Subject: "+m.Subject+"\n") {
		t.Fatalf("plain-text copy:\n%s", txt)
	}
	if glob, _ := filepath.Glob(filepath.Join(dir, "*")); len(glob) != 2 {
		t.Fatalf("outbox holds %v; want the .eml and its .txt", glob)
	}
}
