// Package smtp holds the mail senders of notifications.Sender: SMTP through
// go-mail (production) and the dev outbox that writes .eml files and logs a
// line (the local profile).
package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/notifications"
)

// Config configures the SMTP sender.
type Config struct {
	// URL is smtp://[user:password@]host[:port][?tls=starttls|opportunistic|none]
	// (STARTTLS required by default, port 587) or smtps://… for implicit
	// TLS (port 465). Env SMTP_URL; never logged.
	URL string
	// From is the sender address (MAIL_FROM, default
	// "TradeSense <no-reply@localhost>").
	From string
	// Timeout bounds connecting and each SMTP command (SMTP_TIMEOUT,
	// default 15 s).
	Timeout time.Duration
	// HELO is the name announced to the server (default: go-mail's).
	HELO string
}

// DefaultFrom is MAIL_FROM's default.
const DefaultFrom = "TradeSense <no-reply@localhost>"

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{From: DefaultFrom, Timeout: 15 * time.Second}
}

// Sender sends mail over SMTP.
type Sender struct {
	from    string
	options []mail.Option
	host    string
	addr    string
	domain  string
}

var _ notifications.Sender = (*Sender)(nil)

// New validates cfg and returns the sender. Connections are opened per
// message (DialAndSend), so a broken one never outlives a send.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("smtp: SMTP_URL is not a valid smtp:// or smtps:// URL")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultConfig().Timeout
	}
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	opts := []mail.Option{mail.WithTimeout(cfg.Timeout)}
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := mail.TLSMandatory
		switch u.Query().Get("tls") {
		case "", "starttls":
		case "opportunistic":
			policy = mail.TLSOpportunistic
		case "none":
			policy = mail.NoTLS
		default:
			return nil, errors.New("smtp: SMTP_URL tls= must be starttls, opportunistic or none")
		}
		opts = append(opts, mail.WithTLSPolicy(policy))
	case "smtps":
		port = 465
		opts = append(opts, mail.WithSSL())
	default:
		return nil, errors.New("smtp: SMTP_URL must start with smtp:// or smtps://")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("smtp: SMTP_URL has an invalid port")
		}
		port = n
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(u.User.Username()), mail.WithPassword(pw))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	from, err := notificationsFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	if _, err := mail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &Sender{from: cfg.From, options: opts, host: u.Hostname(), addr: fmt.Sprintf("%s:%d", u.Hostname(), port), domain: from}, nil
}

// notificationsFrom validates MAIL_FROM and returns its domain.
func notificationsFrom(from string) (string, error) {
	m := mail.NewMsg()
	if err := m.From(from); err != nil {
		return "", errors.New("smtp: MAIL_FROM is not a valid address")
	}
	addr := m.GetFromString()
	if len(addr) == 0 {
		return "", errors.New("smtp: MAIL_FROM is not a valid address")
	}
	at := strings.LastIndex(addr[0], "@")
	return strings.TrimSuffix(addr[0][at+1:], ">"), nil
}

// Addr returns the server's host:port, for the start-up log.
func (s *Sender) Addr() string { return s.addr }

// Send implements notifications.Sender. SMTP 5xx replies are permanent
// (apperr.Invalid "email_rejected"); 4xx replies, timeouts and connection
// failures are transient (apperr.Unavailable "mail_unavailable").
func (s *Sender) Send(ctx context.Context, m notifications.Message) error {
	msg, err := build(s.from, s.domain, m)
	if err != nil {
		return err
	}
	c, err := mail.NewClient(s.host, s.options...)
	if err != nil {
		return apperr.Wrap(err, apperr.Internal, "smtp_client", "cannot configure the SMTP client")
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(err, s.addr)
	}
	return nil
}

func classify(err error, addr string) error {
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code < 600 && !se.IsTemp() {
			return apperr.Wrap(err, apperr.Invalid, notifications.CodeRejected, fmt.Sprintf("the mail server rejected the message (%d)", code))
		}
	}
	return apperr.Wrap(fmt.Errorf("smtp %s: %w", addr, err), apperr.Unavailable, notifications.CodeMailDown, "the mail server is unavailable")
}

// build makes the MIME message: multipart/alternative with the text and
// the HTML part, a Message-ID derived from the job ID, and the tags.
func build(from, domain string, m notifications.Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, apperr.Wrap(err, apperr.Invalid, "mail_from_invalid", "MAIL_FROM is not a valid address")
	}
	if err := msg.To(m.To); err != nil {
		return nil, apperr.Wrap(err, apperr.Invalid, notifications.CodeInvalidAddress, "invalid recipient address")
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID + "@" + domain)
	} else {
		msg.SetMessageID()
	}
	if len(m.Tags) > 0 {
		msg.SetGenHeader("X-TradeSense-Tags", strings.Join(m.Tags, ","))
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Outbox is the dev sender: it writes each message as an .eml file under
// its directory and logs a line, so developers read mail without a server.
type Outbox struct {
	dir  string
	from string
	log  *slog.Logger
	now  func() time.Time
}

var _ notifications.Sender = (*Outbox)(nil)

// NewOutbox returns the outbox writing to dir (DATA_DIR/outbox), creating
// it.
func NewOutbox(dir, from string, log *slog.Logger) (*Outbox, error) {
	if from == "" {
		from = DefaultFrom
	}
	if _, err := notificationsFrom(from); err != nil {
		return nil, err
	}
	if err := mkdir(dir); err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	return &Outbox{dir: dir, from: from, log: log, now: time.Now}, nil
}

// Dir returns the outbox directory.
func (o *Outbox) Dir() string { return o.dir }

// Send implements notifications.Sender.
func (o *Outbox) Send(ctx context.Context, m notifications.Message) error {
	domain, _ := notificationsFrom(o.from)
	msg, err := build(o.from, domain, m)
	if err != nil {
		return err
	}
	id := m.ID
	if id == "" {
		id = strconv.FormatInt(o.now().UnixNano(), 36)
	}
	base := o.now().UTC().Format("20060102T150405Z") + "-" + safeName(id)
	// The plain-text copy first: a reader that sees the .eml finds its
	// .txt beside it.
	if _, err := writeFile(o.dir, base+".txt", plainCopy(o.from, m)); err != nil {
		return apperr.Wrap(err, apperr.Unavailable, notifications.CodeMailDown, "cannot write to the mail outbox")
	}
	path, err := writeEML(o.dir, base+".eml", msg)
	if err != nil {
		return apperr.Wrap(err, apperr.Unavailable, notifications.CodeMailDown, "cannot write to the mail outbox")
	}
	o.log.InfoContext(ctx, "email written to the outbox", "to", m.To, "subject", m.Subject, "path", path,
		"text", strings.TrimSuffix(path, ".eml")+".txt")
	return nil
}

// plainCopy is the outbox's .txt beside each .eml: the headers a person
// looks for and the text part as it is, not quoted-printable, so a link
// or a token copied from it is the one that was sent (quoted-printable
// breaks long lines with "=" and encodes "=" as "=3D").
func plainCopy(from string, m notifications.Message) []byte {
	return []byte("From: " + from + "\nTo: " + m.To + "\nSubject: " + m.Subject + "\n\n" + m.Text)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
