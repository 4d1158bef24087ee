package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/app/cli"
	"github.com/tradesense/tradesense/tests/harness"
)

// The job API through the real program (cli.Run, local profile: SQLite,
// in-process GoChannel broker, embedded worker, outbox mail).

type jobsApp struct {
	t     testing.TB
	app   *harness.App
	env   map[string]string
	admin string // access tokens
	alice string
	bob   string
}

type httpResult struct {
	status int
	ctype  string
	body   map[string]any
	raw    string
}

func (a *jobsApp) do(method, path, token, body string) httpResult {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.app.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := httpResult{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

func jsonBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startJobsApp creates an admin and two users with the users CLI, starts
// `api` on the same DATA_DIR and signs the three in.
func startJobsApp(t testing.TB, extra map[string]string) *jobsApp {
	t.Helper()
	env := harness.Env(t)
	env["AUTH_ARGON2_MEMORY_KIB"] = "64"
	env["AUTH_ARGON2_TIME"] = "1"
	env["JOBS_RETRY_BACKOFF"] = "20ms"
	env["JOBS_RETRY_JITTER"] = "0"
	env["JOBS_POLL_INTERVAL"] = "20ms"
	// Each first sign-in below would mail a new-login notice, delivered
	// whenever the worker gets to it: the outbox counts of these tests are
	// of their own mails only.
	env["AUTH_NOTIFY_NEW_LOGIN"] = "false"
	for k, v := range extra {
		env[k] = v
	}
	const password = "jobs test passphrase 1"
	getenv := func(k string) string {
		if k == "TRADESENSE_PASSWORD" {
			return password
		}
		return env[k]
	}
	for _, u := range []struct {
		email string
		admin bool
	}{{"ops@example.com", true}, {"alice@example.com", false}, {"bob@example.com", false}} {
		args := []string{"tradesense", "users", "create", "--email", u.email}
		if u.admin {
			args = append(args, "--admin")
		}
		var out, errOut bytes.Buffer
		if err := cli.Run(context.Background(), args, getenv, &out, &errOut); err != nil {
			t.Fatalf("users create %s: %v\n%s", u.email, err, errOut.String())
		}
	}
	a := &jobsApp{t: t, app: harness.Start(t, env, "api"), env: env}
	login := func(email string) string {
		r := a.do("POST", "/api/v1/auth/login", "", jsonBody(t, map[string]string{"email": email, "password": password}))
		tok, _ := r.body["access_token"].(string)
		if r.status != 200 || tok == "" {
			t.Fatalf("login %s: %d %s", email, r.status, r.raw)
		}
		return tok
	}
	a.admin, a.alice, a.bob = login("ops@example.com"), login("alice@example.com"), login("bob@example.com")
	return a
}

// waitJob polls the job as the admin until it reaches state.
func (a *jobsApp) waitJob(id, state string) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := a.do("GET", "/api/v1/jobs/"+id, a.admin, "")
		if r.status == 200 && r.body["state"] == state {
			return r.body
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("job %s did not reach %s: %d %s", id, state, r.status, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listJobs returns the jobs of one admin listing page.
func (a *jobsApp) listJobs(query string) ([]map[string]any, httpResult) {
	a.t.Helper()
	r := a.do("GET", "/api/v1/admin/jobs?"+query, a.admin, "")
	if r.status != 200 {
		a.t.Fatalf("list jobs ?%s: %d %s", query, r.status, r.raw)
	}
	var out []map[string]any
	for _, j := range r.body["jobs"].([]any) {
		out = append(out, j.(map[string]any))
	}
	return out, r
}

func emlFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	return files
}

// waitEml waits until the outbox holds n .eml files and returns their
// contents.
func waitEml(t testing.TB, dir string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		files := emlFiles(t, dir)
		if len(files) >= n {
			var out []string
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(b))
			}
			if len(files) > n {
				t.Fatalf("outbox holds %d emails, want %d", len(files), n)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %d emails after 10s, want %d", len(files), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertProblem(t testing.TB, r httpResult, status int, code string) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.ctype, "application/problem+json") || (code != "" && r.body["code"] != code) {
		t.Fatalf("got %d %s %s; want %d problem %q", r.status, r.ctype, r.raw, status, code)
	}
}

func TestJobsHTTPAuthorization(t *testing.T) {
	a := startJobsApp(t, map[string]string{"WORKER_EMBEDDED": "false"})
	const someID = "0190a7e0-0000-7000-8000-000000000001"
	admin := []struct{ method, path, body string }{
		{"GET", "/api/v1/admin/queues", ""},
		{"GET", "/api/v1/admin/jobs?state=dead", ""},
		{"POST", "/api/v1/admin/jobs/" + someID + "/retry", ""},
		{"DELETE", "/api/v1/admin/jobs/" + someID, ""},
		{"POST", "/api/v1/admin/emails/bulk", `{"recipients":["a@example.com"],"subject":"s","body":"b"}`},
	}
	for _, op := range admin {
		assertProblem(t, a.do(op.method, op.path, "", op.body), 401, "")
		assertProblem(t, a.do(op.method, op.path, a.alice, op.body), 403, "")
	}
	assertProblem(t, a.do("GET", "/api/v1/jobs/"+someID, "", ""), 401, "")
	assertProblem(t, a.do("GET", "/api/v1/jobs/"+someID, a.alice, ""), 404, "job_not_found")

	// Alice's own job: changing her password mails her, with her as the
	// owner of the email.send job.
	r := a.do("POST", "/api/v1/auth/password/change", a.alice, jsonBody(t, map[string]string{
		"current_password": "jobs test passphrase 1", "new_password": "a brand new passphrase 2"}))
	if r.status >= 300 {
		t.Fatalf("password change: %d %s", r.status, r.raw)
	}
	me := a.do("GET", "/api/v1/auth/me", a.alice, "")
	aliceID, _ := me.body["id"].(string)
	var job map[string]any
	deadline := time.Now().Add(30 * time.Second) // a deadline for a missing job, not a budget
	for job == nil {
		list, _ := a.listJobs("kind=email.send")
		for _, j := range list {
			if j["owner_id"] == aliceID {
				job = j
			}
		}
		if job == nil && time.Now().After(deadline) {
			t.Fatalf("no email.send job owned by alice (%s) in %v", aliceID, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	id := job["id"].(string)
	if _, ok := job["payload"]; ok {
		t.Fatalf("the admin listing shows the payload of a rendered email: %v", job)
	}
	own := a.do("GET", "/api/v1/jobs/"+id, a.alice, "")
	if own.status != 200 || own.body["id"] != id || own.body["kind"] != "email.send" || own.body["state"] != "queued" {
		t.Fatalf("owner GET: %d %s", own.status, own.raw)
	}
	for _, k := range []string{"payload", "result", "worker"} {
		if _, ok := own.body[k]; ok {
			t.Fatalf("owner sees %q of an email job: %s", k, own.raw)
		}
	}
	if created, err := time.Parse(time.RFC3339Nano, own.body["created_at"].(string)); err != nil || created.Location() != time.UTC || !strings.HasSuffix(own.body["created_at"].(string), "Z") {
		t.Fatalf("created_at %v is not RFC 3339 UTC", own.body["created_at"])
	}
	// Bob gets exactly what a missing job gets.
	other := a.do("GET", "/api/v1/jobs/"+id, a.bob, "")
	assertProblem(t, other, 404, "job_not_found")
	if r := a.do("GET", "/api/v1/jobs/"+id, a.admin, ""); r.status != 200 || r.body["owner_id"] != aliceID {
		t.Fatalf("admin GET: %d %s", r.status, r.raw)
	}

	// Retry needs a finished job; delete cancels a queued one.
	assertProblem(t, a.do("POST", "/api/v1/admin/jobs/"+id+"/retry", a.admin, ""), 409, "job_not_retriable")
	if r := a.do("DELETE", "/api/v1/admin/jobs/"+id, a.admin, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	assertProblem(t, a.do("GET", "/api/v1/jobs/"+id, a.alice, ""), 404, "job_not_found")
	assertProblem(t, a.do("DELETE", "/api/v1/admin/jobs/"+id, a.admin, ""), 404, "job_not_found")
	assertProblem(t, a.do("GET", "/api/v1/jobs/not-a-uuid", a.admin, ""), 400, "")
}

func TestJobsHTTPBulkEmailRetryAndInspection(t *testing.T) {
	a := startJobsApp(t, nil)
	outbox := filepath.Join(a.env["DATA_DIR"], "outbox")
	before := len(emlFiles(t, outbox)) // the CLI-created accounts got no mail, but be exact

	r := a.do("POST", "/api/v1/admin/emails/bulk", a.admin, jsonBody(t, map[string]any{
		"recipients": []string{"one@example.com", "two@example.com", "ONE@example.com"},
		"subject":    "Maintenance tonight", "body": "We will be down for 10 minutes.",
	}))
	bulkID, _ := r.body["job_id"].(string)
	if r.status != 202 || bulkID == "" || r.body["status"] != "accepted" {
		t.Fatalf("bulk: %d %s", r.status, r.raw)
	}
	done := a.waitJob(bulkID, "succeeded")
	if res, _ := done["result"].(map[string]any); res["enqueued"] != float64(2) {
		t.Fatalf("bulk result = %v; want 2 sends (duplicates ignoring case removed)", done["result"])
	}
	if p, _ := done["payload"].(map[string]any); p == nil || len(p["recipients"].([]any)) != 2 {
		t.Fatalf("admin should see the bulk payload: %v", done["payload"])
	}
	assertProblem(t, a.do("GET", "/api/v1/jobs/"+bulkID, a.alice, ""), 404, "job_not_found")
	mails := waitEml(t, outbox, before+2)
	joined := strings.Join(mails, "\n")
	for _, to := range []string{"one@example.com", "two@example.com"} {
		if strings.Count(joined, "To: <"+to+">")+strings.Count(joined, "To: "+to) != 1 {
			t.Fatalf("want exactly one email to %s in the outbox:\n%s", to, joined)
		}
	}

	// Validation: problem+json with field errors, before anything is queued.
	for name, tc := range map[string]struct {
		body  string
		field string
	}{
		"bad address":   {`{"recipients":["ok@example.com","not an address"],"subject":"s","body":"b"}`, "recipients[1]"},
		"unknown field": {`{"recipients":["ok@example.com"],"subject":"s","body":"b","bcc":"x@example.com"}`, "body"},
		"no recipients": {`{"recipients":[],"subject":"s","body":"b"}`, "recipients"},
		"no content":    {`{"recipients":["ok@example.com"]}`, "template"},
		"both":          {`{"recipients":["ok@example.com"],"template":"generic","subject":"s","body":"b"}`, "template"},
		"wrong type":    {`{"recipients":"ok@example.com","subject":"s","body":"b"}`, "recipients"},
	} {
		r := a.do("POST", "/api/v1/admin/emails/bulk", a.admin, tc.body)
		assertProblem(t, r, 400, "")
		errs, _ := r.body["errors"].(map[string]any)
		if _, ok := errs[tc.field]; !ok {
			t.Errorf("%s: errors %v lack %q", name, errs, tc.field)
		}
	}
	many := make([]string, 10001)
	for i := range many {
		many[i] = "x@example.com"
	}
	assertProblem(t, a.do("POST", "/api/v1/admin/emails/bulk", a.admin, jsonBody(t, map[string]any{"recipients": many, "subject": "s", "body": "b"})), 400, "")

	// A dead job: the outbox cannot be written, every attempt fails.
	if err := os.Rename(outbox, outbox+".off"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outbox, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = a.do("POST", "/api/v1/admin/emails/bulk", a.admin, jsonBody(t, map[string]any{"recipients": []string{"three@example.com"}, "template": "generic", "data": map[string]any{"Subject": "s", "Body": "b"}}))
	if r.status != 202 {
		t.Fatalf("bulk: %d %s", r.status, r.raw)
	}
	var deadID string
	deadline := time.Now().Add(10 * time.Second)
	for deadID == "" {
		dead, _ := a.listJobs("state=dead&kind=email.send")
		if len(dead) == 1 {
			deadID = dead[0]["id"].(string)
			if dead[0]["error"] == nil || dead[0]["queue"] != "email" {
				t.Fatalf("dead letter without its reason or queue: %v", dead[0])
			}
		}
		if deadID == "" && time.Now().After(deadline) {
			t.Fatalf("no dead email.send job; jobs: %v", func() any { l, _ := a.listJobs("kind=email.send"); return l }())
		}
		time.Sleep(20 * time.Millisecond)
	}
	q := a.do("GET", "/api/v1/admin/queues", a.admin, "")
	if q.status != 200 || len(q.body["queues"].([]any)) != 4 {
		t.Fatalf("queues: %d %s", q.status, q.raw)
	}
	for _, e := range q.body["queues"].([]any) {
		qs := e.(map[string]any)
		if qs["queue"] == "email" && (qs["dead"] != float64(1) || qs["processed"].(float64) < 2 || qs["failed"].(float64) < 1) {
			t.Fatalf("email queue numbers: %v", qs)
		}
	}
	// Repair the outbox and retry the dead letter.
	if err := os.Remove(outbox); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(outbox+".off", outbox); err != nil {
		t.Fatal(err)
	}
	rr := a.do("POST", "/api/v1/admin/jobs/"+deadID+"/retry", a.admin, "")
	if rr.status != 200 || rr.body["id"] != deadID || rr.body["attempt"] != float64(0) {
		t.Fatalf("retry: %d %s", rr.status, rr.raw)
	}
	a.waitJob(deadID, "succeeded")
	if m := strings.Join(waitEml(t, outbox, before+3), "\n"); !strings.Contains(m, "three@example.com") {
		t.Fatal("the retried email did not reach the outbox")
	}

	// Pagination: one job per page, every email.send exactly once.
	seen := map[string]bool{}
	cursor := ""
	for range 50 {
		page, res := a.listJobs("kind=email.send&limit=1" + cursor)
		for _, j := range page {
			if seen[j["id"].(string)] || j["kind"] != "email.send" {
				t.Fatalf("page repeats or mixes kinds: %v", j)
			}
			seen[j["id"].(string)] = true
		}
		next, _ := res.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	all, _ := a.listJobs("kind=email.send&limit=200")
	if len(seen) != len(all) || len(all) < 3 {
		t.Fatalf("paged through %d email.send jobs, want all %d", len(seen), len(all))
	}
	for _, j := range all {
		if !seen[j["id"].(string)] {
			t.Fatalf("pagination missed job %v", j["id"])
		}
	}
	r = a.do("GET", "/api/v1/admin/jobs?cursor=bm9wZQ", a.admin, "")
	assertProblem(t, r, 400, "validation_failed")
	if errs, _ := r.body["errors"].(map[string]any); errs["cursor"] == nil {
		t.Fatalf("bad cursor errors: %s", r.raw)
	}
	assertProblem(t, a.do("GET", "/api/v1/admin/jobs?state=nope", a.admin, ""), 400, "validation_failed")

	if r := a.do("DELETE", "/api/v1/admin/jobs/"+bulkID, a.admin, ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	assertProblem(t, a.do("GET", "/api/v1/jobs/"+bulkID, a.admin, ""), 404, "job_not_found")

	ready := a.do("GET", "/health/ready", "", "")
	checks, _ := ready.body["checks"].(map[string]any)
	if jc, _ := checks["jobs"].(map[string]any); ready.status != 200 || jc["status"] != "up" {
		t.Fatalf("readiness lacks a healthy jobs check: %d %s", ready.status, ready.raw)
	}
}

// FuzzBulkEmailDecoding sends arbitrary bodies to the bulk endpoint as an
// admin, through the whole handler chain: every answer is a 202 with a
// job ID or a 4xx problem, never a 5xx.
func FuzzBulkEmailDecoding(f *testing.F) {
	for _, s := range []string{
		`{"recipients":["a@example.com"],"subject":"s","body":"b"}`,
		`{"recipients":["a@example.com"],"template":"generic","data":{"Subject":"s","Body":"b"}}`,
		`{"recipients":["a@example.com"],"template":"identity_welcome","data":{}}`,
		`{"recipients":["a@example.com"],"template":"../../etc/passwd"}`,
		`{"recipients":["a@example.com\r\nBcc: x@example.com"],"subject":"s","body":"b"}`,
		`{"recipients":[1e400],"subject":null}`,
		`{"recipients":["\ud800@x.io"],"subject":"s","body":"b","idempotency_key":"k"}`,
		`{"recipients":["a@example.com"],"subject":"s","body":"b","x":1}`,
		"\xff\xfe", `[]`, `{`, `null`, `{"recipients":[[]]}`,
	} {
		f.Add(s)
	}
	a := startJobsApp(f, map[string]string{"WORKER_EMBEDDED": "false"})
	f.Fuzz(func(t *testing.T, body string) {
		a.t = t
		r := a.do("POST", "/api/v1/admin/emails/bulk", a.admin, body)
		switch {
		case r.status == 202:
			if id, _ := r.body["job_id"].(string); id == "" {
				t.Fatalf("202 without a job ID: %s", r.raw)
			}
		case r.status >= 400 && r.status < 500:
			if !strings.HasPrefix(r.ctype, "application/problem+json") {
				t.Fatalf("%d without a problem body: %s", r.status, r.raw)
			}
		default:
			t.Fatalf("answered %d to %q: %s", r.status, body, r.raw)
		}
	})
}
