// Package awsfake is an in-process HTTP server that speaks the AWS Secrets
// Manager JSON 1.1 protocol for GetSecretValue as AWS does: POST / with
// X-Amz-Target: secretsmanager.GetSecretValue and Content-Type
// application/x-amz-json-1.1, requests authenticated with Signature Version 4
// (the signature is verified), errors as {"__type": ..., "message": ...} with
// status 400, staging labels AWSCURRENT/AWSPREVIOUS moved on each Put as a
// rotation does, and injectable throttling.
package awsfake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials the fake accepts; tests give the SDK the same pair.
const (
	AccessKeyID     = "AKIDTRADESENSETEST"
	SecretAccessKey = "tradesense-test-secret-access-key"
	Region          = "us-east-1"
)

// Server is a fake Secrets Manager endpoint. Create it with New.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	secrets  map[string]*secret // by name
	deny     map[string]bool
	throttle int
	fail5xx  int
	calls    int
}

type secret struct {
	name     string
	arn      string
	versions []*version
}

type version struct {
	id     string
	str    *string
	bin    []byte
	stages []string
}

// New starts a fake that stops with the test.
func New(t testing.TB) *Server {
	s := &Server{secrets: map[string]*secret{}, deny: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// PutString stores a new version of name holding value, labels it
// AWSCURRENT and moves AWSPREVIOUS to the version that was current; it
// returns the new VersionId.
func (s *Server) PutString(name, value string) string {
	return s.put(name, &value, nil)
}

// PutBinary is PutString for a SecretBinary.
func (s *Server) PutBinary(name string, value []byte) string {
	return s.put(name, nil, slices.Clone(value))
}

func (s *Server) put(name string, str *string, bin []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = &secret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:123456789012:secret:%s-AbCdEf", Region, name)}
		s.secrets[name] = sec
	}
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(st string) bool { return st == "AWSPREVIOUS" })
		for i, st := range v.stages {
			if st == "AWSCURRENT" {
				v.stages[i] = "AWSPREVIOUS"
			}
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	sec.versions = append(sec.versions, &version{id: id, str: str, bin: bin, stages: []string{"AWSCURRENT"}})
	return id
}

// ARN returns the ARN of a stored secret.
func (s *Server) ARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secrets[name].arn
}

// Deny makes reads of name fail with AccessDeniedException.
func (s *Server) Deny(name string) { s.mu.Lock(); s.deny[name] = true; s.mu.Unlock() }

// Throttle makes the next n calls fail with ThrottlingException.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// Fail5xx makes the next n calls fail with InternalServiceError (500).
func (s *Server) Fail5xx(n int) { s.mu.Lock(); s.fail5xx = n; s.mu.Unlock() }

// Calls returns the number of requests received, retries included.
func (s *Server) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "SerializationException", "cannot read body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeErr(w, http.StatusNotFound, "UnknownOperationException", "")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeErr(w, http.StatusBadRequest, "SerializationException", "unexpected Content-Type "+ct)
		return
	}
	if msg := verifySigV4(r, body); msg != "" {
		writeErr(w, http.StatusForbidden, "InvalidSignatureException", msg)
		return
	}
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		writeErr(w, http.StatusBadRequest, "UnknownOperationException", "operation not supported by the fake")
		return
	}
	if s.throttle > 0 {
		s.throttle--
		writeErr(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	}
	if s.fail5xx > 0 {
		s.fail5xx--
		writeErr(w, http.StatusInternalServerError, "InternalServiceError", "An error occurred on the server side.")
		return
	}
	var in getSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil || in.SecretId == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return
	}
	var sec *secret
	for _, c := range s.secrets {
		if c.name == in.SecretId || c.arn == in.SecretId {
			sec = c
		}
	}
	if sec == nil {
		writeErr(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	if s.deny[sec.name] {
		writeErr(w, http.StatusBadRequest, "AccessDeniedException",
			"User: arn:aws:iam::123456789012:user/test is not authorized to perform: secretsmanager:GetSecretValue")
		return
	}
	stage := in.VersionStage
	if stage == "" && in.VersionId == "" {
		stage = "AWSCURRENT"
	}
	var v *version
	for _, c := range sec.versions {
		if (in.VersionId == "" || c.id == in.VersionId) && (stage == "" || slices.Contains(c.stages, stage)) {
			v = c
		}
	}
	if v == nil {
		writeErr(w, http.StatusBadRequest, "ResourceNotFoundException",
			"Secrets Manager can't find the specified secret value for VersionId or VersionStage")
		return
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages,
		"CreatedDate": float64(time.Now().Unix()),
	}
	if v.str != nil {
		out["SecretString"] = *v.str
	} else {
		out["SecretBinary"] = v.bin // encoding/json writes []byte as base64, as AWS does
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// verifySigV4 checks the Authorization header as AWS does for a header-signed
// request: recompute the canonical request over the headers the client
// declared signed and compare signatures. It returns "" when valid.
func verifySigV4(r *http.Request, body []byte) string {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "missing or non-SigV4 Authorization header"
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != AccessKeyID || scope[2] != Region || scope[3] != "secretsmanager" || scope[4] != "aws4_request" {
		return "bad credential scope " + fields["Credential"]
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if len(amzDate) < 8 || amzDate[:8] != scope[1] {
		return "X-Amz-Date does not match the credential scope"
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-date", "x-amz-target"} {
		if !slices.Contains(signed, must) {
			return "header " + must + " is not signed"
		}
	}
	if !sort.StringsAreSorted(signed) {
		return "SignedHeaders not sorted"
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n/\n" + r.URL.RawQuery + "\n")
	for _, h := range signed {
		var v string
		if h == "host" {
			v = r.Host
		} else {
			vals := r.Header.Values(h)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		canon.WriteString(h + ":" + v + "\n")
	}
	payload := sha256.Sum256(body)
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(payload[:]))
	creq := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(creq[:])
	key := hmacSHA256([]byte("AWS4"+SecretAccessKey), scope[1])
	for _, s := range scope[2:] {
		key = hmacSHA256(key, s)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "signature mismatch"
	}
	return ""
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
