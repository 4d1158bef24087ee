package cli

import (
	"context"
	"runtime/debug"
	"time"
)

// startupSettle is how long after the server listens the start-up garbage
// is returned: past the first readiness probes and the embedded worker's
// first poll, so the collection it runs competes with neither.
const startupSettle = time.Second

// releaseStartupGarbage returns the heap that start-up used and no longer
// needs (package initialisation, the parse of the OpenAPI document, the
// migrations' and the wiring's temporaries: about 12 MB allocated for an
// 11 MB live heap) to the operating system, once, settle after listening
// is closed. Left to itself the runtime keeps those pages until the
// background scavenger returns them a few at a time, and the heap goal of
// the collections that ran during start-up (twice a heap that was still
// growing) keeps a share of them resident for good; the process then idles
// with ≈ 4 MB of free heap it will not use. debug.FreeOSMemory runs one
// collection (≈ 10 ms of CPU at this heap size, concurrent with serving)
// and releases every free page: the pages are the runtime's to take back
// when the heap grows, nothing is hidden. Then it releases the pages of
// the binary that start-up mapped (releaseStartupPages).
func releaseStartupGarbage(ctx context.Context, listening <-chan struct{}, settle time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-listening:
	}
	t := time.NewTimer(settle)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		debug.FreeOSMemory()
		releaseStartupPages()
	}
}
