package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/trading"
)

func importEnv(t *testing.T) (*importstest.Env, uuid.UUID, *trading.Account) {
	db := openMigrated(t, testConfig("sqlite://"+filepath.Join(t.TempDir(), "test.db")))
	st := importstest.Stores{Trading: tradingStores(db), Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db)}
	e := importstest.NewEnv(t, st)
	u := st.Trading.NewUser(t)
	a, err := e.Trading.Svc.CreateAccount(context.Background(), u, trading.AccountInput{Name: "Main", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	return e, u, a
}

func preview(e *importstest.Env, u uuid.UUID, up imports.Upload, body string) (*imports.Preview, error) {
	up.Body, up.Size = strings.NewReader(body), int64(len(body))
	return e.Svc.Preview(context.Background(), u, up)
}

// TestImportPreviewRejectsEachBadRowWithItsReason: rows the parser reads
// but that cannot be executions are listed as rejected, each with the
// field at fault, and the good rows still preview.
func TestImportPreviewRejectsEachBadRowWithItsReason(t *testing.T) {
	e, u, a := importEnv(t)
	const head = "symbol,asset_class,side,quantity,price,commission,fees,executed_at,broker_execution_id\n"
	rows := []struct{ row, reason string }{
		{"AAPL,stock,buy,10,100,0,0,2026-05-01T14:00:00Z,ok-1", ""},
		{"AAPL,stock,buy,0,100,0,0,2026-05-01T14:00:00Z,q", "quantity"},
		{"AAPL,stock,buy,10,-1,0,0,2026-05-01T14:00:00Z,p", "price"},
		{"AAPL,stock,buy,10,100,0,0,1969-12-31T23:00:00Z,t", "time"},
		{"AAPL,stock,buy,10,100,0,0,2026-05-01T14:00:00Z," + strings.Repeat("i", 129), "execution ID"},
		{"AAPL,stock,buy,10,100,0,0,2026-05-01T14:00:00Z,\"a\x01b\"", "control"},
		{"A/B?C,stock,buy,10,100,0,0,2026-05-01T14:00:00Z,s", "symbol"},
		{"MSFT,stock,sell,5,300,0,0,2026-05-01T15:00:00Z,ok-2", ""},
	}
	var b strings.Builder
	b.WriteString(head)
	for _, r := range rows {
		b.WriteString(r.row + "\n")
	}
	p, err := preview(e, u, imports.Upload{AccountID: a.ID, Broker: imports.PresetGeneric}, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Fills) != 2 {
		t.Errorf("%d fills previewed; want the 2 good rows", len(p.Fills))
	}
	byLine := map[int]string{}
	for _, r := range p.Rejected {
		byLine[r.Line] = r.Reason
	}
	for i, r := range rows {
		line := i + 2
		got, rejected := byLine[line]
		switch {
		case r.reason == "" && rejected:
			t.Errorf("line %d (%s) rejected: %s", line, r.row, got)
		case r.reason != "" && (!rejected || !strings.Contains(got, r.reason)):
			t.Errorf("line %d: rejected %v with %q; want a reason naming %q", line, rejected, got, r.reason)
		}
	}
}

// TestImportPreviewRefusesTheFile: what is wrong with the upload as a
// whole is one Invalid error with its code, for a 4xx problem.
func TestImportPreviewRefusesTheFile(t *testing.T) {
	e, u, a := importEnv(t)
	const good = "symbol,asset_class,side,quantity,price,commission,fees,executed_at\nAAPL,stock,buy,10,100,0,0,2026-05-01T14:00:00Z\n"
	for _, c := range []struct {
		name string
		up   imports.Upload
		body string
		code string
	}{
		{"empty", imports.Upload{AccountID: a.ID}, " \n\n", imports.CodeFileEmpty},
		{"unknown format", imports.Upload{AccountID: a.ID}, "a;b;c\n1;2;3\n", imports.CodeFormatUnknown},
		{"unknown preset", imports.Upload{AccountID: a.ID, Broker: "nosuchbroker"}, good, imports.CodePresetUnknown},
		{"bad zone", imports.Upload{AccountID: a.ID, Timezone: "Mars/Olympus"}, good, imports.CodeTimezoneInvalid},
		{"Local zone", imports.Upload{AccountID: a.ID, Timezone: "Local"}, good, imports.CodeTimezoneInvalid},
		{"bad mapping", imports.Upload{AccountID: a.ID, Mapping: map[string]string{"no_such_field": "x"}}, good, imports.CodeMappingInvalid},
	} {
		_, err := preview(e, u, c.up, c.body)
		if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != c.code {
			t.Errorf("%s: %v; want Invalid %s", c.name, err, c.code)
		}
	}
	big := imports.Upload{AccountID: a.ID, Body: strings.NewReader(good), Size: imports.DefaultConfig().MaxBytes + 1}
	if _, err := e.Svc.Preview(context.Background(), u, big); apperr.CodeOf(err) != imports.CodeFileTooLarge {
		t.Errorf("a file over MaxBytes: %v; want %s", err, imports.CodeFileTooLarge)
	}
	if _, err := e.Svc.Create(context.Background(), u, big); apperr.CodeOf(err) != imports.CodeFileTooLarge {
		t.Errorf("Create of a file over MaxBytes: %v; want %s", err, imports.CodeFileTooLarge)
	}
}

// TestImportMissingColumnIsNamed: a preset's or a mapping's column
// missing from the file's header is a 400 import_format_unknown whose
// message names it, at preview and at upload (nothing stored), and a file
// of no known format still lists the presets.
func TestImportMissingColumnIsNamed(t *testing.T) {
	e, u, a := importEnv(t)
	for _, c := range []struct {
		name string
		up   imports.Upload
		body string
		want []string
	}{
		{"schwab without Price", imports.Upload{AccountID: a.ID, Broker: imports.PresetSchwab},
			"Date,Action,Symbol,Description,Quantity,Fees & Comm,Amount\n05/01/2026,Buy,AAPL,x,10,,1\n", []string{`has no column "price"`}},
		{"mapping's price missing", imports.Upload{AccountID: a.ID, Broker: imports.PresetGeneric,
			Mapping: map[string]string{"symbol": "symbol", "quantity": "quantity", "price": "Nope", "executed_at": "executed_at"}},
			"symbol,quantity,price,executed_at\nAAPL,1,2,2026-05-01T10:00:00Z\n", []string{`has no column "Nope" (the mapping's price)`}},
		{"unknown format", imports.Upload{AccountID: a.ID}, "a;b;c\n1;2;3\n", []string{imports.PresetSchwab, imports.PresetGeneric}},
	} {
		for _, op := range []string{"preview", "create"} {
			var err error
			if op == "preview" {
				_, err = preview(e, u, c.up, c.body)
			} else {
				up := c.up
				up.Body, up.Size = strings.NewReader(c.body), int64(len(c.body))
				_, err = e.Svc.Create(context.Background(), u, up)
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.Invalid || ae.Code != imports.CodeFormatUnknown {
				t.Errorf("%s %s: %v; want Invalid %s", op, c.name, err, imports.CodeFormatUnknown)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(ae.Message, w) {
					t.Errorf("%s %s: message %q does not name %q", op, c.name, ae.Message, w)
				}
			}
		}
	}
	if list, err := e.Svc.List(context.Background(), u, a.ID, time.Time{}, 10); err != nil || len(list) != 0 || e.Blobs.Len() != 0 {
		t.Errorf("imports stored: %v, %v, %d blobs; want none", list, err, e.Blobs.Len())
	}
}
