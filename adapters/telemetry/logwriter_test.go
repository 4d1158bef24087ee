package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records each write it gets.
type countingWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (w *countingWriter) snapshot() (n int, all string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, p := range w.writes {
		b.Write(p)
	}
	return len(w.writes), b.String()
}

// An hour-long interval: only Flush, a full buffer and Close write.
const never = time.Hour

func TestLogWriterBatchesInfoLinesAndFlushesWarnAtOnce(t *testing.T) {
	out := &countingWriter{}
	lw := NewLogWriter(out, never)
	defer func() { _ = lw.Close() }()
	log := NewLogger(Config{LogFormat: "json", LogLevel: slog.LevelInfo}, lw)
	for i := range 100 {
		log.Info("request completed", "i", i)
	}
	if n, _ := out.snapshot(); n != 0 {
		t.Fatalf("info lines written at once: %d writes, want them held", n)
	}
	log.Warn("shed")
	n, all := out.snapshot()
	if n != 1 {
		t.Fatalf("a warn line made %d writes, want one write of everything before it and itself", n)
	}
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != 101 || !strings.Contains(lines[100], `"msg":"shed"`) {
		t.Fatalf("want the 100 info lines then the warn line, in order; got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	for i, l := range lines[:100] {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["i"] != float64(i) {
			t.Fatalf("line %d = %q (%v), want i=%d", i, l, err, i)
		}
	}
}

func TestLogWriterWritesAFullBufferAndCloseWritesTheRest(t *testing.T) {
	out := &countingWriter{}
	lw := NewLogWriter(out, never)
	line := bytes.Repeat([]byte("x"), 1000)
	line[len(line)-1] = '\n'
	const lines = 200 // 200 kB: more than the 64 KiB buffer
	for range lines {
		if _, err := lw.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := out.snapshot()
	if n == 0 || n >= lines {
		t.Fatalf("%d writes for %d lines, want a few full buffers", n, lines)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	_, all := out.snapshot()
	if len(all) != lines*len(line) {
		t.Fatalf("%d bytes written after Close, want all %d", len(all), lines*len(line))
	}
	// After Close a write goes straight through (shutdown lines are kept).
	_, _ = lw.Write([]byte("late\n"))
	if _, all := out.snapshot(); !strings.HasSuffix(all, "late\n") {
		t.Fatal("a write after Close was lost")
	}
	if err := lw.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestLogWriterWritesALineLargerThanItsBuffer(t *testing.T) {
	out := &countingWriter{}
	lw := NewLogWriter(out, never)
	defer func() { _ = lw.Close() }()
	_, _ = lw.Write([]byte("small\n"))
	big := append(bytes.Repeat([]byte("y"), logBufferSize+10), '\n')
	if n, err := lw.Write(big); err != nil || n != len(big) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, all := out.snapshot(); all != "small\n"+string(big) {
		t.Fatal("the big line was not written whole, after what came before it")
	}
}

func TestLogWriterFlushesOnItsInterval(t *testing.T) {
	out := &countingWriter{}
	lw := NewLogWriter(out, time.Millisecond)
	defer func() { _ = lw.Close() }()
	_, _ = lw.Write([]byte("tick\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, all := out.snapshot(); all == "tick\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was never written by the periodic flush")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBufferLogsOnlyBuffersFiles(t *testing.T) {
	var buf bytes.Buffer
	mem, stopMem := BufferLogs(&buf)
	if _, ok := mem.(*LogWriter); ok {
		t.Fatal("an in-memory writer was buffered")
	}
	_, _ = mem.Write([]byte("at once\n"))
	if buf.String() != "at once\n" {
		t.Fatalf("in-memory writer holds %q before stop, want the line at once", buf.String())
	}
	stopMem()
	// After stop the caller owns its writer again: a late line is dropped.
	_, _ = mem.Write([]byte("late\n"))
	if buf.String() != "at once\n" {
		t.Fatalf("in-memory writer holds %q after stop, want no late line", buf.String())
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	w, stop := BufferLogs(f)
	if _, ok := w.(*LogWriter); !ok {
		t.Fatalf("a file got %T, want a *LogWriter", w)
	}
	_, _ = w.Write([]byte("kept\n"))
	stop()
	b, err := os.ReadFile(f.Name())
	if err != nil || string(b) != "kept\n" {
		t.Fatalf("file holds %q (%v) after stop, want the buffered line", b, err)
	}
}

func TestJSONSourceIsTheCallSite(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(Config{LogFormat: "json"}, &buf)
	for range 2 { // the second line comes from the cache
		log.Info("here")
	}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m struct {
			Source struct {
				Function, File string
				Line           int
			}
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m.Source.File != "adapters/telemetry/logwriter_test.go" || m.Source.Line == 0 ||
			!strings.HasSuffix(m.Source.Function, "TestJSONSourceIsTheCallSite") {
			t.Fatalf("source = %+v in %s", m.Source, l)
		}
	}
}
