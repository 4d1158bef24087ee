package cron_test

import (
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/cron"
)

func TestParse(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for expr, want := range map[string]time.Time{
		"*/15 * * * *": time.Date(2030, 1, 2, 3, 15, 0, 0, time.UTC),
		"0 3 * * *":    time.Date(2030, 1, 3, 3, 0, 0, 0, time.UTC),
		"@hourly":      time.Date(2030, 1, 2, 4, 0, 0, 0, time.UTC),
		"@every 10m":   t0.Add(10 * time.Minute),
	} {
		s, err := cron.Parse(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := s.Next(t0); !got.Equal(want) {
			t.Errorf("%s: next = %s, want %s", expr, got, want)
		}
	}
	for _, bad := range []string{"", "* * *", "61 * * * *", "TZ=Europe/Paris 0 * * * *", "@sometimes"} {
		if _, err := cron.Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/15 * * * *", "@every 1h", "0 0 1 1 *", "1-5/2 * * * MON-FRI", "@every -1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := cron.Parse(expr)
		if err != nil {
			return
		}
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		if n := s.Next(t0); !n.IsZero() && !n.After(t0) {
			t.Fatalf("%q: next %s is not after %s", expr, n, t0)
		}
	})
}
