// Package awsfake is an in-process HTTP server that speaks the AWS Secrets
// Manager JSON 1.1 protocol as AWS does for GetSecretValue, PutSecretValue,
// UpdateSecretVersionStage and CreateSecret: POST / with X-Amz-Target:
// secretsmanager.<Operation> and Content-Type application/x-amz-json-1.1,
// requests authenticated with Signature Version 4 (the signature is
// verified), errors as {"__type": ..., "message": ...} with status 400,
// staging labels moved as Secrets Manager moves them (one version per
// label; moving AWSCURRENT moves AWSPREVIOUS to the version it left;
// UpdateSecretVersionStage fails unless RemoveFromVersionId names the
// version holding the label), client request tokens as idempotent version
// ids, and injectable throttling.
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
		sec = s.newSecret(name)
	}
	v := &version{id: newVersionID(), str: str, bin: bin}
	sec.versions = append(sec.versions, v)
	sec.attach(v, "AWSCURRENT")
	return v.id
}

func (s *Server) newSecret(name string) *secret {
	sec := &secret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:123456789012:secret:%s-AbCdEf", Region, name)}
	s.secrets[name] = sec
	return sec
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// holder returns the version holding stage, or nil.
func (sec *secret) holder(stage string) *version {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// attach moves stage to v, as Secrets Manager does: a label is on one
// version at a time, and moving AWSCURRENT moves AWSPREVIOUS to the
// version it left.
func (sec *secret) attach(v *version, stage string) {
	from := sec.holder(stage)
	if from == v {
		return
	}
	if from != nil {
		from.stages = slices.DeleteFunc(from.stages, func(st string) bool { return st == stage })
	}
	v.stages = append(v.stages, stage)
	if stage == "AWSCURRENT" && from != nil {
		sec.attach(from, "AWSPREVIOUS")
	}
}

func (sec *secret) version(id string) *version {
	for _, v := range sec.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

// Stages returns the staging labels of each version of name, by VersionId.
func (s *Server) Stages(name string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	if sec := s.secrets[name]; sec != nil {
		for _, v := range sec.versions {
			out[v.id] = slices.Clone(v.stages)
		}
	}
	return out
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
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	handler, ok := map[string]func(http.ResponseWriter, []byte){
		"GetSecretValue":           s.getSecretValue,
		"PutSecretValue":           s.putSecretValue,
		"UpdateSecretVersionStage": s.updateSecretVersionStage,
		"CreateSecret":             s.createSecret,
	}[op]
	if !ok {
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
	handler(w, body)
}

// lookup finds the secret named by id (a name or an ARN) and applies Deny.
func (s *Server) lookup(w http.ResponseWriter, id, op string) *secret {
	if id == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return nil
	}
	var sec *secret
	for _, c := range s.secrets {
		if c.name == id || c.arn == id {
			sec = c
		}
	}
	if sec == nil {
		writeErr(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return nil
	}
	if s.deny[sec.name] {
		writeErr(w, http.StatusBadRequest, "AccessDeniedException",
			"User: arn:aws:iam::123456789012:user/test is not authorized to perform: secretsmanager:"+op)
		return nil
	}
	return sec
}

func (s *Server) getSecretValue(w http.ResponseWriter, body []byte) {
	var in getSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, http.StatusBadRequest, "SerializationException", "malformed request")
		return
	}
	sec := s.lookup(w, in.SecretId, "GetSecretValue")
	if sec == nil {
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
	writeOK(w, out)
}

type putSecretValueInput struct {
	SecretId           string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

func (s *Server) putSecretValue(w http.ResponseWriter, body []byte) {
	var in putSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, http.StatusBadRequest, "SerializationException", "malformed request")
		return
	}
	sec := s.lookup(w, in.SecretId, "PutSecretValue")
	if sec == nil {
		return
	}
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "You must provide either SecretString or SecretBinary.")
		return
	}
	if in.ClientRequestToken == "" {
		in.ClientRequestToken = newVersionID()
	}
	if v := sec.version(in.ClientRequestToken); v != nil {
		if !sameValue(v, in.SecretString, in.SecretBinary) {
			writeErr(w, http.StatusBadRequest, "ResourceExistsException",
				"You can't modify an existing version, you can only create a new version.")
			return
		}
		writeOK(w, map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages})
		return
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{"AWSCURRENT"}
	}
	v := &version{id: in.ClientRequestToken, str: in.SecretString, bin: in.SecretBinary}
	sec.versions = append(sec.versions, v)
	for _, st := range stages {
		sec.attach(v, st)
	}
	writeOK(w, map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages})
}

func sameValue(v *version, str *string, bin []byte) bool {
	if str != nil {
		return v.str != nil && *v.str == *str
	}
	return v.str == nil && string(v.bin) == string(bin)
}

type updateStageInput struct {
	SecretId            string
	VersionStage        string
	MoveToVersionId     string
	RemoveFromVersionId string
}

func (s *Server) updateSecretVersionStage(w http.ResponseWriter, body []byte) {
	var in updateStageInput
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, http.StatusBadRequest, "SerializationException", "malformed request")
		return
	}
	sec := s.lookup(w, in.SecretId, "UpdateSecretVersionStage")
	if sec == nil {
		return
	}
	if in.VersionStage == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "VersionStage is required")
		return
	}
	holder := sec.holder(in.VersionStage)
	if in.RemoveFromVersionId != "" && (holder == nil || holder.id != in.RemoveFromVersionId) {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException",
			"The staging label "+in.VersionStage+" is not attached to version "+in.RemoveFromVersionId+".")
		return
	}
	if in.MoveToVersionId == "" {
		if holder != nil && in.RemoveFromVersionId != "" {
			holder.stages = slices.DeleteFunc(holder.stages, func(st string) bool { return st == in.VersionStage })
		}
		writeOK(w, map[string]any{"ARN": sec.arn, "Name": sec.name})
		return
	}
	to := sec.version(in.MoveToVersionId)
	if to == nil {
		writeErr(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret version.")
		return
	}
	if holder != nil && holder != to && in.RemoveFromVersionId == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException",
			"The staging label "+in.VersionStage+" is currently attached to version "+holder.id+". You must specify RemoveFromVersionId.")
		return
	}
	sec.attach(to, in.VersionStage)
	writeOK(w, map[string]any{"ARN": sec.arn, "Name": sec.name})
}

type createSecretInput struct {
	Name               string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
}

func (s *Server) createSecret(w http.ResponseWriter, body []byte) {
	var in createSecretInput
	if err := json.Unmarshal(body, &in); err != nil || in.Name == "" || strings.HasPrefix(in.Name, "arn:") {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "Name is required and must not be an ARN")
		return
	}
	if sec := s.secrets[in.Name]; sec != nil {
		writeErr(w, http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret "+in.Name+" already exists.")
		return
	}
	if in.ClientRequestToken == "" {
		in.ClientRequestToken = newVersionID()
	}
	sec := s.newSecret(in.Name)
	out := map[string]any{"ARN": sec.arn, "Name": sec.name}
	if in.SecretString != nil || in.SecretBinary != nil {
		v := &version{id: in.ClientRequestToken, str: in.SecretString, bin: in.SecretBinary}
		sec.versions = append(sec.versions, v)
		sec.attach(v, "AWSCURRENT")
		out["VersionId"] = v.id
	}
	writeOK(w, out)
}

func writeOK(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
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
