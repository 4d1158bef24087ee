package realtime_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

func TestHubKeepsTheContract(t *testing.T) {
	realtimetest.Run(t, func(t *testing.T) realtimetest.Harness {
		h := realtimetest.NewHub()
		return realtimetest.Harness{Publisher: h, Disconnector: h, Connect: h.Connect}
	})
}

func TestHubRecordsPublishedEvents(t *testing.T) {
	h := realtimetest.NewHub()
	u := uuid.New()
	e := realtime.NewEvent(realtime.TypeReportReady, u, time.Now(), map[string]any{"report_id": "r1"})
	if err := h.Publish(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	bad := e
	bad.Type = "nope"
	_ = h.Publish(t.Context(), bad)
	got := h.Published()
	if len(got) != 1 || got[0].ID != e.ID || got[0].Payload["report_id"] != "r1" {
		t.Fatalf("Published() = %+v; want only the valid event", got)
	}
}

func TestNewEvent(t *testing.T) {
	u := uuid.New()
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("X", 3600))
	a := realtime.NewEvent(realtime.TypeTradeDeleted, u, at, nil)
	b := realtime.NewEvent(realtime.TypeTradeDeleted, u, at, nil)
	if a.ID == b.ID || a.ID.Version() != 7 {
		t.Fatalf("ids %s, %s: want distinct UUIDv7", a.ID, b.ID)
	}
	if a.Version != 1 || a.UserID != u || a.OccurredAt.Location() != time.UTC || !a.OccurredAt.Equal(at) {
		t.Fatalf("NewEvent = %+v", a)
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate(NewEvent) = %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := realtime.NewEvent(realtime.TypeSecurityMFAChanged, uuid.New(), time.Now(), map[string]any{"enabled": true})
	cases := map[string]func(*realtime.Event){
		"no id":        func(e *realtime.Event) { e.ID = uuid.Nil },
		"no user":      func(e *realtime.Event) { e.UserID = uuid.Nil },
		"unknown type": func(e *realtime.Event) { e.Type = "security.other" },
		"empty type":   func(e *realtime.Event) { e.Type = "" },
		"version":      func(e *realtime.Event) { e.Version = -1 },
		"time":         func(e *realtime.Event) { e.OccurredAt = time.Time{} },
	}
	for name, mutate := range cases {
		e := good
		mutate(&e)
		err := e.Validate()
		if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != realtime.CodeEventInvalid {
			t.Errorf("%s: Validate = %v; want invalid %s", name, err, realtime.CodeEventInvalid)
		}
	}
	for _, typ := range realtime.Types() {
		e := good
		e.Type = typ
		if err := e.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v", typ, err)
		}
	}
	if len(realtime.Types()) != 10 {
		t.Fatalf("Types() lists %d types; docs/realtime.md documents 10", len(realtime.Types()))
	}
}
