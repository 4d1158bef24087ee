package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestRecorderHoldsTheAnswer: the idempotency recorder keeps the first
// status and every byte written (Write and WriteString), reports -1 as
// the size until something is written (gin's convention), and sends
// nothing to the client itself (Flush and WriteHeaderNow are held too).
func TestRecorderHoldsTheAnswer(t *testing.T) {
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	r := &recorder{ResponseWriter: c.Writer}
	if r.Size() != -1 || r.Written() {
		t.Fatalf("fresh recorder: size %d, written %v", r.Size(), r.Written())
	}
	r.WriteHeader(http.StatusCreated)
	r.WriteHeader(http.StatusTeapot)
	if n, err := r.Write([]byte(`{"id":`)); n != 6 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if n, err := r.WriteString(`"t1"}`); n != 5 || err != nil {
		t.Fatalf("WriteString = %d, %v", n, err)
	}
	r.WriteHeaderNow()
	r.Flush()
	if r.Status() != http.StatusCreated || r.Size() != 11 || r.body.String() != `{"id":"t1"}` || !r.Written() {
		t.Fatalf("recorder: status %d, size %d, body %q", r.Status(), r.Size(), r.body.String())
	}
	if w.Body.Len() != 0 || w.Flushed {
		t.Fatalf("the client got %q (flushed %v) before the answer was stored", w.Body.String(), w.Flushed)
	}
	empty := &recorder{ResponseWriter: c.Writer}
	empty.WriteHeaderNow()
	if empty.Size() != 0 || !empty.Written() {
		t.Fatalf("headers only: size %d", empty.Size())
	}
}
