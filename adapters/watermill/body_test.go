package watermill

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/jobs"
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

// The stream entry the store appends reads back, through the reader's
// unmarshaller, as the message Publish would have written, with or
// without metadata.
func TestStreamEntryIsTheMarshallersFormat(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	b, _, err := NewRedisStreams(rdb, RedisConfig{StreamPrefix: "p:"}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if b.StreamTarget() != any(rdb) {
		t.Fatal("StreamTarget is not the client")
	}
	for _, md := range []map[string]string{nil, {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}} {
		m := jobs.Message{JobID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Seq: 3, Queue: "email", Kind: "email.send", Metadata: md}
		e, err := b.StreamEntry(m)
		if err != nil {
			t.Fatal(err)
		}
		if e.Stream != "p:email" || len(e.Fields)%2 != 0 {
			t.Fatalf("entry %+v", e)
		}
		values := map[string]any{}
		for i := 0; i < len(e.Fields); i += 2 {
			values[e.Fields[i]] = e.Fields[i+1]
		}
		msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(values)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeBody(msg.Payload)
		if err != nil || got != (body{JobID: m.JobID, Seq: m.Seq, Queue: m.Queue, Kind: m.Kind}) || msg.UUID == "" {
			t.Fatalf("decoded %+v (%v), uuid %q", got, err, msg.UUID)
		}
		if len(msg.Metadata) != len(md) || msg.Metadata.Get("traceparent") != md["traceparent"] {
			t.Fatalf("metadata %v, want %v", msg.Metadata, md)
		}
	}
	if _, err := (&Broker{}).StreamEntry(jobs.Message{}); err == nil {
		t.Fatal("a broker without streams made an entry")
	}
}
