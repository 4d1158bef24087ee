package tests

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/realtime"
)

// uploadImport posts a broker file to POST /api/v1/imports as token.
func uploadImport(t *testing.T, url, token string, fields map[string]string, file []byte) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "export.csv")
	_, _ = fw.Write(file)
	_ = w.Close()
	req, _ := http.NewRequest("POST", url+"/api/v1/imports", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return send(t, req)
}

// TestRealtimeImportEvents: an import uploaded over the REST API and run
// by the local profile's embedded worker pushes import.progress (once the
// import is running) and then import.finished with its result to its
// owner's device, for a succeeded and for a failed (strict) import;
// another user's device receives none of them.
func TestRealtimeImportEvents(t *testing.T) {
	env := programEnv(t)
	app, me, other, mine, theirs := startRTPair(t, env, "rt-importer@example.com", "rt-bystander@example.com")

	c := userClient{t, app.URL}
	status, acct := c.call("POST", "/api/v1/accounts", me.access, map[string]any{"name": "Broker", "currency": "USD"})
	if status != 201 {
		t.Fatalf("create account: %d %v", status, acct)
	}
	// The bystander has an account and imports nothing.
	if status, body := c.call("POST", "/api/v1/accounts", other.access, map[string]any{"name": "Theirs", "currency": "USD"}); status != 201 {
		t.Fatalf("create the other account: %d %v", status, body)
	}

	importOf := func(id string) func(realtime.Event) bool {
		return func(e realtime.Event) bool {
			return (e.Type == realtime.TypeImportProgress || e.Type == realtime.TypeImportFinished) && e.Payload["import_id"] == id
		}
	}
	for _, tc := range []struct {
		name, strict, status string
		executions           float64
	}{
		{"succeeded", "false", "succeeded", 8},
		{"strict, one bad row", "true", "failed", 0},
	} {
		status, imp := uploadImport(t, app.URL, me.access, map[string]string{
			"account_id": acct["id"].(string), "timezone": "America/New_York", "strict": tc.strict,
		}, []byte(importstest.FlexFile))
		if status != 202 {
			t.Fatalf("%s: upload: %d %v", tc.name, status, imp)
		}
		id, _ := imp["id"].(string)
		first := mine.next(tc.name+": the first event of the import", importOf(id))
		if first.Type != realtime.TypeImportProgress || first.Payload["rows_done"] != float64(0) ||
			first.Payload["rows_total"] != nil || first.Payload["rows_rejected"] != float64(0) {
			t.Fatalf("%s: first event %s %v; want import.progress at row 0", tc.name, first.Type, first.Payload)
		}
		if first.ID.Version() != 7 {
			t.Fatalf("%s: event id %s is not a UUIDv7", tc.name, first.ID)
		}
		fin := mine.next(tc.name+": import.finished", func(e realtime.Event) bool {
			return e.Type == realtime.TypeImportFinished && e.Payload["import_id"] == id
		})
		if fin.Payload["status"] != tc.status || fin.Payload["executions_imported"] != tc.executions ||
			fin.Payload["rows_rejected"] != float64(1) || fin.UserID != me.user {
			t.Fatalf("%s: import.finished %v (user %s); want %s with %v executions and 1 rejected row", tc.name, fin.Payload, fin.UserID, tc.status, tc.executions)
		}
		// The REST API agrees with the event.
		if status, got := c.call("GET", "/api/v1/imports/"+id, me.access, nil); status != 200 || got["status"] != tc.status {
			t.Fatalf("%s: GET import: %d %v", tc.name, status, got)
		}
	}
	select {
	case e := <-theirs.events:
		t.Fatalf("another user received %s %v", e.Type, e.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}
