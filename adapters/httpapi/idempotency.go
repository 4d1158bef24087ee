package httpapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/identity"
)

// The headers of idempotent POSTs.
const (
	idempotencyHeader = "Idempotency-Key"
	replayedHeader    = "Idempotent-Replayed"
)

// errNotStored makes the guard release a key whose request was refused:
// an error answer is not replayed, so the client may fix and retry.
var errNotStored = errors.New("the response is an error: not stored")

// idempotent runs the operations that declare the Idempotency-Key header
// under idempotency.Guard when the caller sends one: the first answer
// (status, content type, Location, body) is stored per user and key and
// replayed to every retry for the guard's TTL, marked Idempotent-Replayed.
// The request hash covers method, path and the body as sent (a multipart
// body by its parts, see hashedBody). Answers of
// 400 and above are not stored. It runs after the authenticator (the key
// is the caller's) and the validator (a refused request claims nothing).
func idempotent(routes routeTable, guard *idempotency.Guard, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader(idempotencyHeader)
		r := routes.of(c)
		if key == "" || r == nil || !r.idempotent || guard == nil {
			c.Next()
			return
		}
		p, ok := identity.PrincipalFrom(c.Request.Context())
		if !ok {
			c.Next()
			return
		}
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			writeProblem(c, log, err)
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		hash := idempotency.Hash(c.Request.Method, c.Request.URL.RequestURI(), hashedBody(c.Request.Header.Get("Content-Type"), body))

		real := c.Writer
		rec := &recorder{ResponseWriter: real, status: http.StatusOK}
		resp, replayed, err := guard.Do(c.Request.Context(), p.UserID, key, hash, func(ctx context.Context) (idempotency.Response, error) {
			// ctx carries the guard's commit mark into the handler's
			// transactions (what the handler adds to its request stays).
			c.Writer, c.Request = rec, c.Request.WithContext(ctx)
			c.Next()
			c.Writer = real
			resp := idempotency.Response{Status: rec.status, ContentType: rec.Header().Get("Content-Type"),
				Location: rec.Header().Get("Location"), Body: rec.body.Bytes()}
			if resp.Status >= 400 {
				return resp, errNotStored
			}
			return resp, nil
		})
		c.Writer = real
		switch {
		case errors.Is(err, errNotStored) || (err != nil && rec.wrote):
			// The handler answered (with an error, or the key store failed
			// after it answered): send what it wrote.
			if err != nil && !errors.Is(err, errNotStored) {
				log.WarnContext(c.Request.Context(), "idempotency: the answer was not stored", "error", err)
			}
			real.WriteHeader(rec.status)
			_, _ = real.Write(rec.body.Bytes())
		case err != nil:
			writeProblem(c, log, err)
		default:
			if replayed {
				h := real.Header()
				h.Set(replayedHeader, "true")
				if resp.ContentType != "" {
					h.Set("Content-Type", resp.ContentType)
				}
				if resp.Location != "" {
					h.Set("Location", resp.Location)
				}
			}
			real.WriteHeader(resp.Status)
			_, _ = real.Write(resp.Body)
		}
		c.Abort()
	}
}

// recorder holds a handler's answer until the guard has stored it. The
// headers go straight to the real writer's map (they are sent with the
// status); status and body wait.
type recorder struct {
	gin.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) WriteHeaderNow() { r.wrote = true }

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

func (r *recorder) WriteString(s string) (int, error) {
	r.wrote = true
	return r.body.WriteString(s)
}

func (r *recorder) Status() int { return r.status }

func (r *recorder) Size() int {
	if !r.wrote {
		return -1
	}
	return r.body.Len()
}

func (r *recorder) Written() bool { return r.wrote }

func (r *recorder) Flush() {}

// hashedBody is what the request hash covers of a body: the bytes as sent,
// but for a multipart form its parts (each one's form name, file name,
// content type and content, in order) without the boundary, which clients
// pick at random for every request: a retry of the same upload is the
// same request. A JSON body is hashed as its value, re-encoded with the
// keys of every object sorted, its numbers as written and its whitespace
// dropped: a client that serialises the same request with its keys in
// another order (maps in most languages) retries the same request. A form
// or JSON that does not parse is hashed as sent (its handler refuses it).
func hashedBody(contentType string, body []byte) []byte {
	mt, params, err := mime.ParseMediaType(contentType)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return canonicalJSON(body)
	}
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return body
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	out := make([]byte, 0, len(body))
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) && len(out) > 0 {
			return out
		}
		if err != nil {
			return body
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return body
		}
		for _, f := range [][]byte{[]byte(part.FormName()), []byte(part.FileName()), []byte(part.Header.Get("Content-Type")), content} {
			out = binary.BigEndian.AppendUint64(out, uint64(len(f)))
			out = append(out, f...)
		}
	}
}

// canonicalJSON is body's JSON value encoded again (encoding/json sorts
// the keys of a map; json.Number keeps each number's text), or body
// itself when it is not one JSON value.
func canonicalJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}
