package cli

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlySpansTakesOnlyCleanReadOnlyMappingsOfTheFile(t *testing.T) {
	const smaps = `00400000-00500000 r-xp 00000000 fe:00 42 /srv/my app
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
00500000-00600000 r--p 00100000 fe:00 42 /srv/my app
Anonymous:             0 kB
00600000-00610000 rw-p 00200000 fe:00 42 /srv/my app
Anonymous:             8 kB
00610000-00620000 r--p 00210000 fe:00 42 /srv/my app
Anonymous:             4 kB
00620000-00630000 r-xp 00000000 fe:00 43 /usr/lib/other.so
Anonymous:             0 kB
00630000-00640000 rw-p 00000000 00:00 0
Anonymous:            64 kB
7f0000000000-7f0000001000 r--p 00000000 00:00 0 [vvar]
Anonymous:             0 kB
`
	got, err := readOnlySpans(strings.NewReader(smaps), "/srv/my app")
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{0x400000, 0x500000}, {0x500000, 0x600000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("spans = %x, want %x (the text and read-only data only: not the writable data, not the read-only "+
			"mapping holding a copied page, not another file's, not anonymous memory)", got, want)
	}
}

// startPagesProbe is initialised data, in the executable's writable data
// segment: what the process writes there must survive the release.
var startPagesProbe = [3 << 12]byte{0: 1, 3<<12 - 1: 1}

func rssFileKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseStartupPagesDropsTheBinarysPagesAndLosesNothing(t *testing.T) {
	startPagesProbe[1<<12] = 7 // a page of the writable data, now copied on write
	before := rssFileKB(t)
	n := releaseStartupPages()
	after := rssFileKB(t)
	if n == 0 {
		t.Fatal("released nothing")
	}
	if after >= before {
		t.Fatalf("RssFile %d kB → %d kB after releasing %d bytes: the mapped pages stayed", before, after, n)
	}
	if startPagesProbe[1<<12] != 7 || startPagesProbe[0] != 1 || startPagesProbe[len(startPagesProbe)-1] != 1 {
		t.Fatal("the writable data lost what the process wrote or was initialised with")
	}
	// The code and its tables come back from the page cache as they run:
	// a collection reads the type and stack tables of every goroutine.
	runtime.GC()
	t.Logf("released %d MB of mappings: RssFile %d → %d kB", n>>20, before, after)
}
