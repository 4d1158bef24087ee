package tests

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/text/encoding/unicode"

	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/trading"
)

// upload posts a multipart import form.
func (st *stack) importUpload(path, token string, fields map[string]string, file []byte) resp {
	st.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("file", "export.csv")
		_, _ = fw.Write(file)
	}
	_ = w.Close()
	return st.postBody(path, token, w.FormDataContentType(), &buf)
}

func (st *stack) postBody(path, token, contentType string, body io.Reader) resp {
	st.t.Helper()
	req, _ := http.NewRequest("POST", st.url+path, body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	return st.send(req)
}

func (st *stack) get(path, token string) resp {
	st.t.Helper()
	req, _ := http.NewRequest("GET", st.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return st.send(req)
}

func (st *stack) account(userToken string) *trading.Account {
	st.t.Helper()
	me := st.do("GET", "/api/v1/auth/me", userToken, nil)
	st.expect(me, 200, "")
	a, err := st.app.Trading.CreateAccount(context.Background(), uuid.MustParse(me.str("id")), trading.AccountInput{Name: "Main " + uuid.NewString()[:8], Currency: "USD"})
	if err != nil {
		st.t.Fatal(err)
	}
	return a
}

// TestImportsOverHTTP drives the import routes through the whole api
// program (local profile, SQLite): upload, the job, status, another
// user's ids, bad files, undo.
func TestImportsOverHTTP(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	ann, _ := st.registerVerified("ann-imports@example.com")
	bob, _ := st.registerVerified("bob-imports@example.com")
	annAcct := st.account(ann)
	st.account(bob)

	// Upload, run the job (the local profile's worker is not started by
	// the stack), read the result.
	r := st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String(), "timezone": "America/New_York"}, []byte(importstest.FlexFile))
	st.expect(r, 202, "")
	if r.str("status") != "queued" || r.str("broker") != imports.PresetIBKRFlex {
		t.Fatalf("created %s", r.raw)
	}
	id := uuid.MustParse(r.str("id"))
	if err := st.app.Imports.Run(ctx, annAcct.UserID, id); err != nil {
		t.Fatal(err)
	}
	got := st.do("GET", "/api/v1/imports/"+id.String(), ann, nil)
	st.expect(got, 200, "")
	counts, _ := got.body["counts"].(map[string]any)
	rows, _ := got.body["rejected_rows"].([]any)
	mism, _ := got.body["mismatches"].([]any)
	if got.str("status") != "succeeded" || counts["executions_added"] != float64(8) || counts["rejected"] != float64(1) || len(rows) != 1 || len(mism) != 1 {
		t.Fatalf("import %s", got.raw)
	}
	if m := mism[0].(map[string]any); m["broker_pnl"] != "30.4" || m["computed_pnl"] != "29.4" {
		t.Fatalf("mismatch %v: decimals as strings", m)
	}
	list := st.do("GET", "/api/v1/imports?account_id="+annAcct.ID.String(), ann, nil)
	st.expect(list, 200, "")
	if items, _ := list.body["items"].([]any); len(items) != 1 {
		t.Fatalf("list %s", list.raw)
	}

	// The exports: CSV of the owner's rows.
	exp := st.get("/api/v1/executions/export?format=csv&account_id="+annAcct.ID.String(), ann)
	if exp.status != 200 || !strings.HasPrefix(exp.header.Get("Content-Type"), "text/csv") || strings.Count(exp.raw, "\n") != 9 {
		t.Fatalf("executions export: %d %s", exp.status, exp.raw)
	}
	tr := st.get("/api/v1/trades/export?format=csv&account_id="+annAcct.ID.String(), ann)
	if tr.status != 200 || strings.Count(tr.raw, "\n") != 5 {
		t.Fatalf("trades export: %d %s", tr.status, tr.raw)
	}
	recs, err := csv.NewReader(strings.NewReader(tr.raw)).ReadAll()
	if err != nil || recs[0][len(recs[0])-1] != "currency" {
		t.Fatalf("trades export header %v: %v", recs[0], err)
	}
	for _, row := range recs[1:] {
		if row[len(row)-1] != annAcct.Currency {
			t.Fatalf("trades export row %v: want the currency %s last", row, annAcct.Currency)
		}
	}

	// Another user's ids are 404 on every route that takes one.
	st.expect(st.do("GET", "/api/v1/executions/export?format=csv&account_id="+annAcct.ID.String(), bob, nil), 404, trading.CodeAccountNotFound)
	st.expect(st.do("GET", "/api/v1/executions/export?format=csv&import_id="+id.String(), bob, nil), 404, imports.CodeImportNotFound)
	st.expect(st.do("GET", "/api/v1/trades/export?format=csv&account_id="+annAcct.ID.String(), bob, nil), 404, trading.CodeAccountNotFound)
	st.expect(st.do("GET", "/api/v1/imports?account_id="+annAcct.ID.String(), bob, nil), 404, trading.CodeAccountNotFound)
	st.expect(st.do("GET", "/api/v1/imports/"+id.String(), bob, nil), 404, imports.CodeImportNotFound)
	st.expect(st.do("DELETE", "/api/v1/imports/"+id.String(), bob, nil), 404, imports.CodeImportNotFound)
	st.expect(st.importUpload("/api/v1/imports", bob, map[string]string{"account_id": annAcct.ID.String()}, []byte(importstest.FlexFile)), 404, trading.CodeAccountNotFound)
	st.expect(st.importUpload("/api/v1/imports/preview", bob, map[string]string{"account_id": annAcct.ID.String()}, []byte(importstest.FlexFile)), 404, trading.CodeAccountNotFound)
	if items, _ := st.do("GET", "/api/v1/imports", bob, nil).body["items"].([]any); len(items) != 0 {
		t.Fatal("bob lists ann's imports")
	}
	mr := st.do("POST", "/api/v1/import-mappings", ann, map[string]any{"name": "Mine", "columns": map[string]string{
		"symbol": "Ticker", "side": "Dir", "quantity": "Qty", "price": "Px", "executed_at": "When"}})
	st.expect(mr, 201, "")
	mid := mr.str("id")
	st.expect(st.do("GET", "/api/v1/import-mappings/"+mid, bob, nil), 404, imports.CodeMappingNotFound)
	st.expect(st.do("PUT", "/api/v1/import-mappings/"+mid, bob, map[string]any{"name": "x", "columns": map[string]string{
		"symbol": "a", "quantity": "b", "price": "c", "date": "d"}}), 404, imports.CodeMappingNotFound)
	st.expect(st.do("DELETE", "/api/v1/import-mappings/"+mid, bob, nil), 404, imports.CodeMappingNotFound)
	st.expect(st.importUpload("/api/v1/imports", bob, map[string]string{"account_id": st.account(bob).ID.String(), "mapping_id": mid}, []byte("a\n")), 404, imports.CodeMappingNotFound)
	mapping := st.do("GET", "/api/v1/import-mappings/"+mid, ann, nil)
	st.expect(mapping, 200, "")
	// A saved mapping is versioned as every single record: its ETag, a
	// replace with it, then the stale one is 412.
	tag := mapping.header.Get("ETag")
	if tag != `"1"` {
		t.Fatalf("mapping ETag %q", tag)
	}
	cols := map[string]string{"symbol": "Ticker", "side": "Dir", "quantity": "Qty", "price": "Px", "executed_at": "When"}
	put := st.call("PUT", "/api/v1/import-mappings/"+mid, ann, map[string]any{"name": "Mine 2", "columns": cols}, map[string]string{"If-Match": tag})
	st.expect(put, 200, "")
	if put.header.Get("ETag") != `"2"` || put.str("name") != "Mine 2" {
		t.Fatalf("replaced mapping: %s %s", put.header.Get("ETag"), put.raw)
	}
	st.expect(st.call("PUT", "/api/v1/import-mappings/"+mid, ann, map[string]any{"name": "Mine 3", "columns": cols}, map[string]string{"If-Match": tag}), 412, "version_mismatch")

	// Bad files and forms are 4xx problems, never 500.
	unknown := st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String()}, []byte("foo,bar\n1,2\n"))
	st.expect(unknown, 400, imports.CodeFormatUnknown)
	if !strings.Contains(unknown.str("detail"), imports.PresetNinjaTrader) {
		t.Fatalf("the unknown-format problem does not list the presets: %s", unknown.raw)
	}
	huge := bytes.Repeat([]byte("AAPL,stock,buy,1,1,0,0,2026-05-01T10:00:00Z,x\n"), int(imports.DefaultConfig().MaxBytes/46+10))
	if r := st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String()}, huge); r.status != 413 || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("oversize: %d %s", r.status, r.raw[:min(len(r.raw), 300)])
	}
	st.expect(st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String()}, nil), 400, "")
	st.expect(st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String(), "broker": "etrade"}, []byte(importstest.FlexFile)), 400, "")
	st.expect(st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String(), "timezone": "Mars/Olympus"}, []byte(importstest.FlexFile)), 400, imports.CodeTimezoneInvalid)
	st.expect(st.postBody("/api/v1/imports", ann, "multipart/form-data; boundary=xyz", strings.NewReader("--xyz\r\ngarbage")), 400, "")
	st.expect(st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String()}, []byte{}), 400, "")
	// An archived account is refused at upload (nothing stored, no job),
	// as POST /executions refuses it; a preview writes nothing and stays
	// allowed.
	archived := st.account(ann)
	st.expect(st.do("PATCH", "/api/v1/accounts/"+archived.ID.String(), ann, map[string]any{"archived": true}), 200, "")
	st.problem(st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": archived.ID.String()}, []byte(importstest.FlexFile)), 409, trading.CodeAccountArchived)
	st.expect(st.importUpload("/api/v1/imports/preview", ann, map[string]string{"account_id": archived.ID.String()}, []byte(importstest.FlexFile)), 200, "")
	if items, _ := st.do("GET", "/api/v1/imports?account_id="+archived.ID.String(), ann, nil).body["items"].([]any); len(items) != 0 {
		t.Fatalf("the archived account has %d imports", len(items))
	}

	// A UTF-16 export previews like its UTF-8 original.
	u16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(importstest.FlexFile))
	pv := st.importUpload("/api/v1/imports/preview", ann, map[string]string{"account_id": annAcct.ID.String()}, u16)
	st.expect(pv, 200, "")
	if ex, _ := pv.body["executions"].([]any); pv.str("broker") != imports.PresetIBKRFlex || len(ex) != 8 {
		t.Fatalf("preview %s", pv.raw)
	}
	dry := st.importUpload("/api/v1/imports", ann, map[string]string{"account_id": annAcct.ID.String(), "dry_run": "true"}, []byte(importstest.FlexFile))
	st.expect(dry, 200, "")

	// Undo removes the import's executions.
	undo := st.do("DELETE", "/api/v1/imports/"+id.String(), ann, nil)
	st.expect(undo, 200, "")
	if undo.body["executions_removed"] != float64(8) {
		t.Fatalf("undo %s", undo.raw)
	}
	st.expect(st.do("GET", "/api/v1/imports/"+id.String(), ann, nil), 404, imports.CodeImportNotFound)
	page, _, err := st.app.Trading.ListExecutions(ctx, annAcct.UserID, trading.ExecutionFilter{}, trading.Page{})
	if err != nil || len(page) != 0 {
		t.Fatal(fmt.Sprint("executions after undo: ", len(page), err))
	}
}
