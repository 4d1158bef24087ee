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
		realtime.TradeChanged(realtime.TypeTradeCreated, u, at, realtime.TradeChange{TradeID: id, AccountID: uuid.New(), DataVersion: 3}),
		realtime.TradeChanged(realtime.TypeTradeUpdated, u, at, realtime.TradeChange{TradeID: id, AccountID: uuid.New(), DataVersion: 4, AttachmentID: uuid.New()}),
		realtime.TradeChanged(realtime.TypeTradeDeleted, u, at, realtime.TradeChange{TradeID: id, AccountID: uuid.New(), DataVersion: 5}),
		realtime.JournalUpdated(u, at, realtime.JournalEntityDailyEntry, id, realtime.ChangeUpdated, "2026-03-04", 6),
		realtime.SessionRevoked(u, at, []uuid.UUID{id}, "revoked_by_user"),
		realtime.MFAChanged(u, at, "enabled"),
	}
}

// variants are further shapes of the same types (optional fields), used by
// the docs check.
func variants() []realtime.Event {
	u, at := uuid.New(), time.Now()
	return []realtime.Event{
		realtime.TradeChanged(realtime.TypeTradeUpdated, u, at, realtime.TradeChange{AccountID: uuid.New(), DataVersion: 7, Bulk: true}),
		realtime.TradeChanged(realtime.TypeTradeDeleted, u, at, realtime.TradeChange{AccountID: uuid.New(), DataVersion: 8, Bulk: true}),
	}
}

func TestNewEventIDIsATimeOrderedUUIDv7(t *testing.T) {
	prev := realtime.NewEventID()
	seen := map[uuid.UUID]bool{prev: true}
	for range 1000 {
		id := realtime.NewEventID()
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v; want a UUIDv7", id, id.Version(), id.Variant())
		}
		if seen[id] {
			t.Fatalf("%s issued twice", id)
		}
		// uuid's V7 is monotonic within the process: IDs sort by issue.
		if id.String() <= prev.String() {
			t.Fatalf("%s issued after %s sorts before it", id, prev)
		}
		seen[id], prev = true, id
	}
	for _, e := range append(constructed(), variants()...) {
		if e.ID.Version() != 7 {
			t.Errorf("%s: id %s is not a UUIDv7", e.Type, e.ID)
		}
	}
}

func TestTradeAndJournalPayloads(t *testing.T) {
	u, at, tr, acc, att := uuid.New(), time.Now(), uuid.New(), uuid.New(), uuid.New()
	one := realtime.TradeChanged(realtime.TypeTradeUpdated, u, at, realtime.TradeChange{TradeID: tr, AccountID: acc, DataVersion: 9, AttachmentID: att})
	if b, _ := json.Marshal(one.Payload); string(b) != `{"account_id":"`+acc.String()+`","attachment_id":"`+att.String()+`","data_version":9,"trade_id":"`+tr.String()+`"}` {
		t.Errorf("trade.updated payload = %s", b)
	}
	bulk := realtime.TradeChanged(realtime.TypeTradeUpdated, u, at, realtime.TradeChange{TradeID: tr, AccountID: acc, DataVersion: 9, Bulk: true})
	if b, _ := json.Marshal(bulk.Payload); string(b) != `{"account_id":"`+acc.String()+`","bulk":true,"data_version":9}` {
		t.Errorf("bulk trade.updated payload = %s", b)
	}
	j := realtime.JournalUpdated(u, at, realtime.JournalEntityTag, tr, realtime.ChangeDeleted, "", 10)
	if b, _ := json.Marshal(j.Payload); string(b) != `{"change":"deleted","data_version":10,"date":null,"entity":"tag","entity_id":"`+tr.String()+`"}` {
		t.Errorf("journal.updated payload = %s", b)
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
		if j := strings.Index(section, "\n#"); j >= 0 {
			section = section[:j]
		}
		for _, k := range payloadKeys(e) {
			if !strings.Contains(section, "`"+k+"`") {
				t.Errorf("docs/realtime.md, %s: payload field %q is not documented", e.Type, k)
			}
		}
		// One shape per event: every field the section's table documents
		// is one the constructor sends (in some variant).
		sent := map[string]bool{}
		for _, v := range append(constructed(), variants()...) {
			if v.Type == e.Type {
				for _, k := range payloadKeys(v) {
					sent[k] = true
				}
			}
		}
		for _, line := range strings.Split(section, "\n") {
			if !strings.HasPrefix(line, "| `") {
				continue
			}
			field := strings.TrimPrefix(line, "| `")
			field = field[:strings.Index(field, "`")]
			if !sent[field] {
				t.Errorf("docs/realtime.md, %s: documents field %q that the constructor never sends", e.Type, field)
			}
		}
	}
}
