package watermill

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// The hand-written body is byte for byte what json.Marshal writes, and
// reads back; other JSON forms of a body read as encoding/json reads them.
func TestBodyMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("abc-._:019AZ \"\\<>&\x01é\u2028")
	str := func() string {
		rs := []rune(string(alphabet))
		out := make([]rune, r.IntN(12))
		for i := range out {
			out[i] = rs[r.IntN(len(rs))]
		}
		return string(out)
	}
	for range 2000 {
		b := body{JobID: str(), Seq: r.IntN(1<<31) - 5, Queue: str(), Kind: str()}
		got, err := encodeBody(b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(b)
		if string(got) != string(want) {
			t.Fatalf("encodeBody %s, json.Marshal %s", got, want)
		}
		back, err := decodeBody(got)
		if err != nil || back != b {
			t.Fatalf("decodeBody(%s) = %+v, %v; want %+v", got, back, err, b)
		}
	}
	for _, raw := range []string{
		`{"seq":2,"job_id":"x","queue":"default","kind":"k"}`,
		`{ "job_id": "x", "seq": 2, "queue": "default", "kind": "k" }`,
		`{"job_id":"x","seq":+2,"queue":"default","kind":"k"}`,
		`{"job_id":"x","seq":2,"queue":"default","kind":"k","extra":1}`,
		`{"job_id":"\u0078","seq":2,"queue":"default","kind":"k"}`,
		`{"job_id":"x","seq":02,"queue":"default","kind":"k"}`,
	} {
		var want body
		wantErr := json.Unmarshal([]byte(raw), &want)
		got, err := decodeBody([]byte(raw))
		if (err != nil) != (wantErr != nil) || got != want {
			t.Errorf("decodeBody(%s) = %+v, %v; encoding/json %+v, %v", raw, got, err, want, wantErr)
		}
	}
}

func BenchmarkBody(b *testing.B) {
	bd := body{JobID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Seq: 1, Queue: "default", Kind: "default.noop"}
	raw, _ := json.Marshal(bd)
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var got body
			_ = json.Unmarshal(raw, &got)
			_, _ = json.Marshal(got)
		}
	})
	b.Run("by-hand", func(b *testing.B) {
		for b.Loop() {
			got, _ := decodeBody(raw)
			_, _ = encodeBody(got)
		}
	})
}
