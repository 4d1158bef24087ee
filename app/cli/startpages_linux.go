package cli

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"syscall"
)

// releaseStartupPages unmaps the pages of the executable's read-only
// segments (code, read-only data and symbol tables) from this process,
// once start-up is over. Package initialisation runs code and reads type
// and function tables from across the whole binary once, and the kernel
// maps every page it touches with its neighbours (fault-around, 64 KB at
// a time): ≈ 45 MB of a 97 MB binary stayed resident though the idle
// process touches little of it again (docs/benchmarks.md, "Idle footprint
// and start"). madvise(MADV_DONTNEED) drops the mappings, not the pages:
// they stay in the page cache, and the code the process runs later faults
// its pages back in from there (a minor fault, no disk read), so the
// resident set grows back to what serving really uses, no further. Only
// mappings of the executable with no write permission and no anonymous
// (copied-on-write) page are released: a page of such a mapping reads
// back from the file exactly what it held, so nothing can be lost. It
// returns the bytes of the ranges released; 0 when /proc cannot be read.
func releaseStartupPages() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	spans, err := readOnlySpans(f, exe)
	if err != nil {
		return 0
	}
	var n int64
	for _, s := range spans {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, s.start, s.end-s.start, syscall.MADV_DONTNEED); errno == 0 {
			n += int64(s.end - s.start) //nolint:gosec // a mapping is far below 2^63 bytes
		}
	}
	return n
}

// span is an address range [start, end).
type span struct{ start, end uintptr }

// readOnlySpans returns the mappings in smaps (the format of
// /proc/PID/smaps) of the file path that have no write permission and no
// anonymous page.
func readOnlySpans(smaps io.Reader, path string) ([]span, error) {
	var (
		spans []span
		cur   *span
		anon  bool
	)
	flush := func() {
		if cur != nil && !anon {
			spans = append(spans, *cur)
		}
		cur, anon = nil, false
	}
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) == 0 {
			continue
		}
		if k := fields[0]; k[len(k)-1] == ':' { // a field of the mapping above
			if cur != nil && string(k) == "Anonymous:" && (len(fields) < 2 || string(fields[1]) != "0") {
				anon = true
			}
			continue
		}
		flush()
		// A mapping: start-end perms offset dev inode [path]; the path
		// may hold spaces (and ends " (deleted)" once the file is replaced,
		// as /proc/self/exe's link does then too).
		if len(fields) < 6 || len(fields[1]) < 2 || fields[1][1] == 'w' {
			continue
		}
		if string(bytes.Join(fields[5:], []byte{' '})) != path {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte{'-'})
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(string(lo), 16, 64)
		e, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || e <= s {
			continue
		}
		cur = &span{uintptr(s), uintptr(e)}
	}
	flush()
	return spans, sc.Err()
}
