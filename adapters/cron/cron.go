// Package cron parses the cron expressions of periodic jobs with
// robfig/cron's standard parser (five fields, or @hourly, @daily, @every
// 15m, …), evaluated in UTC.
package cron

import (
	"fmt"
	"time"

	rcron "github.com/robfig/cron/v3"

	"github.com/tradesense/tradesense/core/jobs"
)

var parser = rcron.NewParser(rcron.Minute | rcron.Hour | rcron.Dom | rcron.Month | rcron.Dow | rcron.Descriptor)

type schedule struct{ s rcron.Schedule }

func (s schedule) Next(t time.Time) time.Time { return s.s.Next(t.UTC()) }

// Parse parses expr. Time zones (TZ=, CRON_TZ=) are refused: schedules run
// in UTC, the same on every replica.
func Parse(expr string) (jobs.Schedule, error) {
	if len(expr) > 200 {
		return nil, fmt.Errorf("cron expression longer than 200 characters")
	}
	for _, p := range []string{"TZ=", "CRON_TZ="} {
		if len(expr) >= len(p) && expr[:len(p)] == p {
			return nil, fmt.Errorf("cron expression %q: time zones are not supported; schedules run in UTC", expr)
		}
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %w", expr, err)
	}
	return schedule{s}, nil
}
