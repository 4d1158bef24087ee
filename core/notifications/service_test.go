package notifications_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
)

type enqueued struct {
	kind    string
	payload json.RawMessage
	n       int
}

// fakeQueue records enqueues and runs nothing.
type fakeQueue struct {
	mu   sync.Mutex
	jobs []enqueued
}

func (q *fakeQueue) Enqueue(_ context.Context, kind string, payload any, opts ...jobs.Option) (string, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, enqueued{kind, b, len(opts)})
	return "job-" + kind, nil
}

func (q *fakeQueue) EnqueueMany(ctx context.Context, reqs []jobs.Request) ([]string, error) {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		id, err := q.Enqueue(ctx, r.Kind, r.Payload, r.Options...)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

type markers struct {
	mu sync.Mutex
	m  map[string]bool
}

func (m *markers) Mark(_ context.Context, k string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m[k] {
		return false, nil
	}
	m.m[k] = true
	return true, nil
}

func (m *markers) Marked(_ context.Context, k string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[k], nil
}

type sender struct {
	mu   sync.Mutex
	sent []notifications.Message
	err  error
}

func (s *sender) Send(_ context.Context, m notifications.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, m)
	return nil
}

func newService(t *testing.T) (*notifications.Service, *fakeQueue, *sender) {
	tpl, err := notifications.DefaultTemplates()
	if err != nil {
		t.Fatal(err)
	}
	q, s := &fakeQueue{}, &sender{}
	svc := notifications.NewService(notifications.Config{PublicURL: "https://tradesense.example"}, tpl, q, &markers{m: map[string]bool{}}, s, slog.New(slog.DiscardHandler))
	return svc, q, s
}

func TestSendEmailRendersAndEnqueues(t *testing.T) {
	svc, q, _ := newService(t)
	id, err := svc.SendEmail(context.Background(), notifications.Email{To: " ann@example.com ", Template: "generic",
		Data: map[string]any{"Subject": "Hi Ann", "Body": "Welcome"}, IdempotencyKey: "welcome:ann"})
	if err != nil || id != "job-email.send" {
		t.Fatalf("SendEmail = %q, %v", id, err)
	}
	var p map[string]any
	_ = json.Unmarshal(q.jobs[0].payload, &p)
	if q.jobs[0].kind != notifications.KindSend || p["to"] != "ann@example.com" || p["subject"] != "Hi Ann" ||
		!strings.Contains(p["text"].(string), "Welcome") || !strings.Contains(p["html"].(string), "https://tradesense.example") || q.jobs[0].n != 1 {
		t.Fatalf("enqueued %+v %v", q.jobs[0], p)
	}
}

func TestSendEmailFailsAtEnqueue(t *testing.T) {
	svc, q, _ := newService(t)
	for name, e := range map[string]notifications.Email{
		"unknown template": {To: "a@example.com", Template: "nope"},
		"missing data":     {To: "a@example.com", Template: "generic"},
		"bad address":      {To: "not an address", Template: "generic", Data: map[string]any{"Subject": "s", "Body": "b"}},
		"header injection": {To: "a@example.com\r\nBcc: b@example.com", Template: "generic", Data: map[string]any{"Subject": "s", "Body": "b"}},
		"display name":     {To: "Ann <a@example.com>", Template: "generic", Data: map[string]any{"Subject": "s", "Body": "b"}},
	} {
		if _, err := svc.SendEmail(context.Background(), e); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("%s: err = %v, want Invalid", name, err)
		}
	}
	if len(q.jobs) != 0 {
		t.Fatalf("%d jobs enqueued for bad requests", len(q.jobs))
	}
}

func TestSendHandlerIsIdempotentAndClassifiesErrors(t *testing.T) {
	svc, _, s := newService(t)
	reg := jobs.NewRegistry()
	svc.Register(reg)
	kc, ok := reg.Lookup(notifications.KindSend)
	if !ok {
		t.Fatal("email.send not registered")
	}
	j := &jobs.Job{ID: "0190aaaa-0000-7000-8000-000000000001", Kind: notifications.KindSend,
		Payload: json.RawMessage(`{"to":"a@example.com","subject":"s","text":"t","html":"<p>h</p>"}`)}
	ctx := context.Background()
	for range 2 {
		if _, err := kc.Handler(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.sent) != 1 || s.sent[0].ID != j.ID || s.sent[0].HTML != "<p>h</p>" {
		t.Fatalf("sent %d messages for one job, want 1: %+v", len(s.sent), s.sent)
	}
	j2 := *j
	j2.ID = "0190aaaa-0000-7000-8000-000000000002"
	s.err = apperr.New(apperr.Invalid, notifications.CodeRejected, "550 no such user")
	if _, err := kc.Handler(ctx, &j2); !jobs.IsPermanent(err) {
		t.Fatalf("5xx: %v, want permanent", err)
	}
	s.err = apperr.New(apperr.Unavailable, notifications.CodeMailDown, "421 try later")
	if _, err := kc.Handler(ctx, &j2); err == nil || jobs.IsPermanent(err) {
		t.Fatalf("4xx: %v, want a retryable error", err)
	}
	s.err = errors.New("connection reset")
	if _, err := kc.Handler(ctx, &j2); err == nil || jobs.IsPermanent(err) {
		t.Fatalf("network: %v, want a retryable error", err)
	}
}

func TestSendBulkValidatesAndDeduplicates(t *testing.T) {
	svc, q, _ := newService(t)
	ctx := context.Background()
	id, err := svc.SendBulk(ctx, notifications.Bulk{Recipients: []string{"a@example.com", "A@example.com", "b@example.com"}, Subject: "News", Body: "Body"})
	if err != nil || id == "" {
		t.Fatal(err)
	}
	var p struct {
		Recipients []string `json:"recipients"`
		Template   string   `json:"template"`
	}
	_ = json.Unmarshal(q.jobs[0].payload, &p)
	if q.jobs[0].kind != notifications.KindBulk || len(p.Recipients) != 2 || p.Template != "generic" {
		t.Fatalf("bulk payload %+v", p)
	}
	for name, b := range map[string]notifications.Bulk{
		"no recipients":       {Subject: "s", Body: "b"},
		"bad recipient":       {Recipients: []string{"a@example.com", "nope"}, Subject: "s", Body: "b"},
		"no content":          {Recipients: []string{"a@example.com"}},
		"unknown template":    {Recipients: []string{"a@example.com"}, Template: "nope"},
		"template needs data": {Recipients: []string{"a@example.com"}, Template: "generic"},
	} {
		if _, err := svc.SendBulk(ctx, b); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}

func TestChildIDsAreDeterministic(t *testing.T) {
	parent := "0190aaaa-0000-7000-8000-000000000001"
	a, b := notifications.ChildID(parent, 3, "X@example.com"), notifications.ChildID(parent, 3, "x@example.com")
	c := notifications.ChildID(parent, 4, "x@example.com")
	d := notifications.ChildID("0190aaaa-0000-7000-8000-000000000002", 3, "x@example.com")
	if a != b || a == c || a == d {
		t.Fatalf("child IDs %s %s %s %s", a, b, c, d)
	}
}

func FuzzSendBulk(f *testing.F) {
	f.Add("a@example.com,b@example.com", "Subject", "Body", "")
	f.Add("x", "", "", "generic")
	f.Add("a@example.com\r\nBcc: c@example.com", "S", "B", "")
	f.Add("\"weird\"@example.com", "{{.Evil}}", "<script>", "nope")
	f.Fuzz(func(t *testing.T, recipients, subject, body, template string) {
		svc, q, _ := newService(t)
		_, err := svc.SendBulk(context.Background(), notifications.Bulk{Recipients: strings.Split(recipients, ","), Subject: subject, Body: body, Template: template})
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("non-validation error %v", err)
			}
			return
		}
		var p struct{ Recipients []string }
		_ = json.Unmarshal(q.jobs[0].payload, &p)
		for _, r := range p.Recipients {
			if strings.ContainsAny(r, "\r\n") {
				t.Fatalf("recipient with a line break accepted: %q", r)
			}
		}
	})
}
