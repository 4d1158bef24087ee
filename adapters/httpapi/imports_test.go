package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/imports"
)

// stubImports serves nothing but its configuration.
type stubImports struct{ Imports }

func (stubImports) Config() imports.Config {
	c := imports.DefaultConfig()
	c.MaxBytes = 1 << 10
	return c
}

// tokenIdentity accepts "Bearer <user uuid>".
type tokenIdentity struct{ stubIdentity }

func (tokenIdentity) Authenticate(_ context.Context, token string) (identity.Principal, error) {
	id, err := uuid.Parse(token)
	if err != nil {
		return identity.Principal{}, apperr.New(apperr.Unauthenticated, identity.CodeTokenMissing, "Authentication is required.")
	}
	return identity.Principal{UserID: id, Role: identity.RoleUser}, nil
}

// fakeImports holds one import of its owner.
type fakeImports struct {
	stubImports
	owner uuid.UUID
	imp   imports.Import
	got   imports.Upload
	body  string
}

func (f *fakeImports) Create(_ context.Context, userID uuid.UUID, up imports.Upload) (*imports.Import, error) {
	b, _ := io.ReadAll(up.Body)
	f.got, f.body = up, string(b)
	if strings.HasPrefix(f.body, "nope") {
		return nil, apperr.New(apperr.Invalid, imports.CodeFormatUnknown, "the file's format was not recognised")
	}
	imp := f.imp
	imp.UserID, imp.AccountID, imp.Status = userID, up.AccountID, imports.Queued
	return &imp, nil
}

func (f *fakeImports) Get(_ context.Context, userID, id uuid.UUID) (*imports.Import, error) {
	if userID != f.owner || id != f.imp.ID {
		return nil, apperr.New(apperr.NotFound, imports.CodeImportNotFound, "import not found")
	}
	return &f.imp, nil
}

func (f *fakeImports) Undo(_ context.Context, userID, id uuid.UUID) (*imports.UndoResult, error) {
	if userID != f.owner || id != f.imp.ID {
		return nil, apperr.New(apperr.NotFound, imports.CodeImportNotFound, "import not found")
	}
	return &imports.UndoResult{ExecutionsRemoved: 3, TradesRebuilt: 1}, nil
}

func uploadRequest(t *testing.T, path, user string, fields map[string]string, file []byte) *httptestRequest {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := w.CreateFormFile("file", "export.csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(file); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+user)
	return &httptestRequest{httpRequest: req}
}

type httptestRequest struct{ httpRequest *http.Request }

func TestImportRoutesOnAFake(t *testing.T) {
	owner, other := uuid.New(), uuid.New()
	account := uuid.New()
	fake := &fakeImports{owner: owner, imp: imports.Import{ID: uuid.New(), Broker: imports.PresetGeneric, Timezone: "UTC", Status: imports.Succeeded,
		Counts: imports.Counts{Rows: 2, ExecutionsAdded: 1, Rejected: 1}, Rejected: []imports.RejectedRow{{Line: 3, Raw: "x,y", Reason: "bad"}},
		CreatedAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}}
	d := testDeps(t, io.Discard, nil)
	d.Identity, d.Imports = tokenIdentity{}, fake
	s := newTestServer(t, DefaultConfig(), d)

	csv := []byte("symbol,side,quantity,price,executed_at\nAAPL,buy,1,2,2026-05-01T10:00:00Z\n")
	rec := serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": account.String(), "strict": "true",
		"mapping": `{"symbol":"Ticker"}`}, csv).httpRequest)
	if rec.Code != 202 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	if fake.got.AccountID != account || !fake.got.Strict || fake.got.Mapping["symbol"] != "Ticker" || fake.body != string(csv) || fake.got.Filename != "export.csv" {
		t.Fatalf("service got %+v (body %q)", fake.got, fake.body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["status"] != "queued" || body["account_id"] != account.String() {
		t.Fatalf("body %s", rec.Body)
	}

	// Bad files and forms are 4xx problems.
	big := bytes.Repeat([]byte("a"), 2<<10)
	wantProblem(t, serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": account.String()}, big).httpRequest), 413, "body_too_large")
	wantProblem(t, serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": account.String()}, []byte("nope\n")).httpRequest), 400, imports.CodeFormatUnknown)
	wantProblem(t, serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": account.String()}, nil).httpRequest), 400, "validation_failed")
	wantProblem(t, serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": "x"}, csv).httpRequest), 400, "validation_failed")
	wantProblem(t, serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": account.String(), "colour": "red"}, csv).httpRequest), 400, "validation_failed")
	wantProblem(t, serve(s, uploadRequest(t, "/api/v1/imports", owner.String(), map[string]string{"account_id": account.String(), "mapping": "[1"}, csv).httpRequest), 400, "validation_failed")
	plain := httptest.NewRequest("POST", "/api/v1/imports", strings.NewReader(`{"account_id":"x"}`))
	plain.Header.Set("Content-Type", "application/json")
	plain.Header.Set("Authorization", "Bearer "+owner.String())
	if rec := serve(s, plain); rec.Code < 400 || rec.Code >= 500 {
		t.Fatalf("a JSON body: %d %s", rec.Code, rec.Body)
	}

	// Another user's import is 404 on every id route; the owner's is served.
	for _, m := range []string{"GET", "DELETE"} {
		for user, want := range map[uuid.UUID]int{other: 404, owner: 200} {
			req := httptest.NewRequest(m, fmt.Sprintf("/api/v1/imports/%s", fake.imp.ID), nil)
			req.Header.Set("Authorization", "Bearer "+user.String())
			rec := serve(s, req)
			if rec.Code != want {
				t.Fatalf("%s as %v: %d, want %d: %s", m, user == owner, rec.Code, want, rec.Body)
			}
			if want == 404 {
				wantProblem(t, rec, 404, imports.CodeImportNotFound)
			}
		}
	}
	req := httptest.NewRequest("GET", fmt.Sprintf("/api/v1/imports/%s", fake.imp.ID), nil)
	req.Header.Set("Authorization", "Bearer "+owner.String())
	rec = serve(s, req)
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	rows, _ := body["rejected_rows"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["line"] != float64(3) || body["counts"].(map[string]any)["rejected"] != float64(1) {
		t.Fatalf("import body %s", rec.Body)
	}
}
