package realtime_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/realtime"
)

// constructed builds one event of every type with its v1 constructor.
func constructed() []realtime.Event {
	u, at, id := uuid.New(), time.Now(), uuid.New()
	return []realtime.Event{
		realtime.JobUpdated(u, at, "j1", "imports.run", "default", "progress", 1, json.RawMessage(`{"rows":10}`)),
		realtime.ImportProgress(u, at, id, 10, -1, 0),
		realtime.ImportFinished(u, at, id, "succeeded", 120, 40, 2),
		realtime.ReportReady(u, at, id, "performance", "pdf"),
		realtime.TradeChanged(realtime.TypeTradeCreated, u, at, id, uuid.New()),
		realtime.TradeChanged(realtime.TypeTradeUpdated, u, at, id, uuid.New()),
		realtime.TradeChanged(realtime.TypeTradeDeleted, u, at, id, uuid.New()),
		realtime.JournalUpdated(u, at, "daily_entry", id, "updated", "2026-03-04"),
		realtime.SessionRevoked(u, at, []uuid.UUID{id}, "revoked_by_user"),
		realtime.MFAChanged(u, at, "enabled"),
	}
}

func payloadKeys(e realtime.Event) []string {
	var ks []string
	for k := range e.Payload {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestConstructorsCoverEveryTypeWithValidEvents(t *testing.T) {
	var types []string
	for _, e := range constructed() {
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", e.Type, err)
		}
		if _, err := json.Marshal(e.Payload); err != nil {
			t.Errorf("%s: payload not JSON: %v", e.Type, err)
		}
		types = append(types, e.Type)
	}
	if !slices.Equal(types, realtime.Types()) {
		t.Fatalf("constructors build %v; want every type %v", types, realtime.Types())
	}
}

func TestJobUpdatedCarriesOnlySmallProgress(t *testing.T) {
	u := uuid.New()
	small := realtime.JobUpdated(u, time.Now(), "j", "k", "q", "progress", 1, json.RawMessage(`{"done":1}`))
	if string(small.Payload["progress"].(json.RawMessage)) != `{"done":1}` {
		t.Fatalf("small progress not carried: %v", small.Payload)
	}
	big := realtime.JobUpdated(u, time.Now(), "j", "k", "q", "progress", 1, json.RawMessage(`"`+strings.Repeat("x", realtime.MaxJobProgressBytes)+`"`))
	notProgress := realtime.JobUpdated(u, time.Now(), "j", "k", "q", "succeeded", 1, json.RawMessage(`{"done":1}`))
	invalid := realtime.JobUpdated(u, time.Now(), "j", "k", "q", "progress", 1, json.RawMessage(`{`))
	for name, e := range map[string]realtime.Event{"big": big, "terminal": notProgress, "invalid": invalid} {
		if _, ok := e.Payload["progress"]; ok {
			t.Errorf("%s: progress carried: %v", name, e.Payload)
		}
	}
	unknown := realtime.ImportProgress(u, time.Now(), uuid.New(), 1, -1, 0)
	if v, ok := unknown.Payload["rows_total"]; !ok || v != nil {
		t.Fatalf("rows_total = %v, %v; want present and null while unknown", v, ok)
	}
}

// TestDocsDescribeEveryEvent keeps docs/realtime.md in step with the
// constructors: a section per type naming every payload field.
func TestDocsDescribeEveryEvent(t *testing.T) {
	b, err := os.ReadFile("../../docs/realtime.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, e := range constructed() {
		head := "### `" + e.Type + "`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("docs/realtime.md has no section %q", head)
			continue
		}
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n### "); j >= 0 {
			section = section[:j]
		}
		for _, k := range payloadKeys(e) {
			if !strings.Contains(section, "`"+k+"`") {
				t.Errorf("docs/realtime.md, %s: payload field %q is not documented", e.Type, k)
			}
		}
	}
}
