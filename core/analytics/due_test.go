package analytics_test

import (
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/analytics"
)

func TestDueMonthlyAndWeeklyInTheUsersZone(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	ny, _ := time.LoadLocation("America/New_York")
	both := &analytics.Schedule{Weekly: true, Monthly: true}
	for _, c := range []struct {
		now  time.Time
		loc  *time.Location
		want []string
	}{
		// Monday 1 June 2026 07:00 in Tokyo is Sunday 22:00 UTC: both due.
		{time.Date(2026, 5, 31, 22, 0, 0, 0, time.UTC), tokyo, []string{"weekly:2026-05-25", "monthly:2026-05-01"}},
		{time.Date(2026, 5, 31, 21, 59, 0, 0, time.UTC), tokyo, nil},
		// 24 hours later nothing is due any more.
		{time.Date(2026, 6, 1, 22, 0, 0, 0, time.UTC), tokyo, nil},
		// Sunday 1 November 2026 (New York falls back at 02:00): 07:00 EST is 12:00 UTC.
		{time.Date(2026, 11, 1, 11, 59, 0, 0, time.UTC), ny, nil},
		{time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), ny, []string{"monthly:2026-10-01"}},
	} {
		var got []string
		for _, r := range analytics.Due(c.now, c.loc, 7, both) {
			got = append(got, r.ScheduleKey)
		}
		if len(got) != len(c.want) {
			t.Errorf("Due(%s in %s) = %v; want %v", c.now, c.loc, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("Due(%s in %s) = %v; want %v", c.now, c.loc, got, c.want)
			}
		}
	}
}
