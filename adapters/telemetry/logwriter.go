package telemetry

import (
	"io"
	"os"
	"sync"
	"time"
)

// LogFlushInterval is how long an info or debug line may wait in a
// LogWriter's buffer before it is written.
const LogFlushInterval = 100 * time.Millisecond

// logBufferSize is the buffer of a LogWriter: a full buffer is written at
// once, so a burst costs one write per this many bytes.
const logBufferSize = 64 << 10

// LogWriter batches log lines into few writes: one write(2) per line to a
// pipe or file is most of an access log's cost under load (measured in
// docs/benchmarks.md, #18 item 3). Lines are written in the order they came,
// at the latest LogFlushInterval after they came, at once when the buffer
// is full or a logger built on it (NewLogger) writes a warn or error line
// (Flush), and all of them at Close. After Close every write goes straight
// to the underlying writer, so nothing logged during shutdown is lost.
//
// What a hard crash (SIGKILL, a fatal runtime error) can lose is at most
// the last LogFlushInterval of info lines; warn and error lines are never
// held back.
type LogWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// BufferLogs returns the writer the process logger should write to: a
// LogWriter over w when w is a file (stdout, a pipe or a file: each write
// is a system call), and otherwise w behind a gate (an in-memory writer
// gains nothing from batching: each line reaches it at once). The returned
// func flushes and stops the LogWriter, after which a line still logged
// goes straight to the file, so nothing of a shutdown is lost; for any
// other writer it closes the gate: a background goroutine that logs after
// the command returned (go-redis's dialer, say) does not write into a
// writer its caller now owns and reads (a data race, and an in-process
// test's buffer).
func BufferLogs(w io.Writer) (io.Writer, func()) {
	if _, ok := w.(*os.File); !ok {
		g := &gatedWriter{w: w}
		return g, g.close
	}
	lw := NewLogWriter(w, LogFlushInterval)
	return lw, func() { _ = lw.Close() }
}

// gatedWriter passes writes to w until closed, and drops them after.
type gatedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// NewLogWriter starts a LogWriter over w that writes what it holds every
// interval.
func NewLogWriter(w io.Writer, interval time.Duration) *LogWriter {
	lw := &LogWriter{w: w, buf: make([]byte, 0, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go lw.flushEvery(interval)
	return lw
}

func (lw *LogWriter) flushEvery(interval time.Duration) {
	defer close(lw.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-lw.stop:
			return
		case <-t.C:
			_ = lw.Flush()
		}
	}
}

// Write buffers p (one log line, as slog's handlers write them) and
// writes the buffer first when p does not fit. It reports an error only
// when a write to the underlying writer failed; the bytes are then dropped,
// as an unbuffered write's would be.
func (lw *LogWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed {
		return lw.w.Write(p)
	}
	var err error
	if len(lw.buf)+len(p) > cap(lw.buf) {
		err = lw.flushLocked()
		if len(p) > cap(lw.buf) {
			if _, werr := lw.w.Write(p); werr != nil {
				return 0, werr
			}
			return len(p), err
		}
	}
	lw.buf = append(lw.buf, p...)
	return len(p), err
}

// Flush writes what the buffer holds.
func (lw *LogWriter) Flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.flushLocked()
}

func (lw *LogWriter) flushLocked() error {
	if len(lw.buf) == 0 {
		return nil
	}
	_, err := lw.w.Write(lw.buf)
	lw.buf = lw.buf[:0]
	return err
}

// Close stops the periodic flush, writes what is buffered and makes later
// writes unbuffered. It is idempotent.
func (lw *LogWriter) Close() error {
	lw.mu.Lock()
	if lw.closed {
		lw.mu.Unlock()
		return nil
	}
	lw.closed = true
	err := lw.flushLocked()
	lw.mu.Unlock()
	close(lw.stop)
	<-lw.done
	return err
}
