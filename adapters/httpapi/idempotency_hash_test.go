package httpapi

import (
	"bytes"
	"mime/multipart"
	"testing"
)

// TestHashedBodyIgnoresTheBoundary: two encodings of one form (random
// boundaries) hash alike, a changed field or file does not, and a body
// that is not a multipart form is hashed as sent.
func TestHashedBodyIgnoresTheBoundary(t *testing.T) {
	form := func(tradeID, file string) (string, []byte) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.WriteField("trade_id", tradeID)
		fw, _ := w.CreateFormFile("file", "a.png")
		_, _ = fw.Write([]byte(file))
		_ = w.Close()
		return w.FormDataContentType(), buf.Bytes()
	}
	ct1, b1 := form("t1", "png bytes")
	ct2, b2 := form("t1", "png bytes")
	if bytes.Equal(b1, b2) {
		t.Fatal("the two forms share a boundary: the test needs them apart")
	}
	h1, h2 := hashedBody(ct1, b1), hashedBody(ct2, b2)
	if !bytes.Equal(h1, h2) {
		t.Fatal("one form under two boundaries hashes apart")
	}
	for _, other := range [][2]string{{"t2", "png bytes"}, {"t1", "other bytes"}} {
		ct, b := form(other[0], other[1])
		if bytes.Equal(hashedBody(ct, b), h1) {
			t.Errorf("form %v hashes as the first", other)
		}
	}
	raw := []byte(`{"name":"x"}`)
	if !bytes.Equal(hashedBody("application/json", raw), raw) || !bytes.Equal(hashedBody(ct1, []byte("--nope")), []byte("--nope")) {
		t.Fatal("a JSON body or a broken form is not hashed as sent")
	}
}
