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
	if !bytes.Equal(hashedBody("application/json", raw), raw) || !bytes.Equal(hashedBody(ct1, []byte("--nope")), []byte("--nope")) { // a canonical JSON body is itself
		t.Fatal("a JSON body or a broken form is not hashed as sent")
	}
}

// TestHashedBodyOfJSONIsItsValue: one JSON request written with its keys
// in another order and other whitespace hashes alike (a retry by a client
// that serialises a map); another value, a number written otherwise, or
// another key does not; a body that is not one JSON value is hashed as
// sent.
func TestHashedBodyOfJSONIsItsValue(t *testing.T) {
	const ct = "application/json; charset=utf-8"
	base := hashedBody(ct, []byte(`{"symbol":"AAPL","quantity":"10","price":"170.5","fills":[{"at":1,"b":[true,null]}]}`))
	same := hashedBody(ct, []byte(" {\n \"fills\" : [ {\"b\":[true, null], \"at\":1} ],\"price\":\"170.5\", \"quantity\":\"10\", \"symbol\":\"AAPL\"}\n"))
	if !bytes.Equal(base, same) {
		t.Fatalf("reordered keys hash apart:\n%s\n%s", base, same)
	}
	for _, other := range []string{
		`{"symbol":"AAPL","quantity":"11","price":"170.5","fills":[{"at":1,"b":[true,null]}]}`,
		`{"symbol":"AAPL","quantity":"10","price":"170.5","fills":[{"at":1.0,"b":[true,null]}]}`,
		`{"symbol":"AAPL","quantity":"10","price":"170.5","fills":[{"b":[true,null]}]}`,
		`{"symbol":"AAPL","quantity":"10","price":"170.5","fills":[{"at":1,"b":[null,true]}]}`,
	} {
		if bytes.Equal(hashedBody(ct, []byte(other)), base) {
			t.Errorf("%s hashes as the first", other)
		}
	}
	for _, raw := range []string{`{"a":1} {"a":1}`, `{"a":`, ``} {
		if got := hashedBody(ct, []byte(raw)); !bytes.Equal(got, []byte(raw)) {
			t.Errorf("%q hashed as %q, want as sent", raw, got)
		}
	}
}
