package wire

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Getenv looks up one environment variable; "" means unset. The process's
// os.Getenv is passed in from app/, so tests give their own.
type Getenv func(string) string

// envReader reads typed variables and collects every error, so one start-up
// reports all bad settings at once, each naming its variable.
type envReader struct {
	getenv Getenv
	errs   []error
	names  []string // every variable asked for, for the documentation test
}

func (r *envReader) lookup(name string) string {
	r.names = append(r.names, name)
	return r.getenv(name)
}

func (r *envReader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *envReader) err() error { return errors.Join(r.errs...) }

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.lookup(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (r *envReader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, "%q is not a non-negative duration such as 30s or 5m", v)
		return def
	}
	return d
}

func (r *envReader) int64(name string, def, lo, hi int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r.fail(name, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (r *envReader) float(name string, def, lo, hi float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		r.fail(name, "%q is not a number from %g to %g", v, lo, hi)
		return def
	}
	return f
}

func (r *envReader) bool(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

func (r *envReader) list(name string) []string {
	var out []string
	for part := range strings.SplitSeq(r.str(name, ""), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *envReader) level(name string, def slog.Level) slog.Level {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, "%q is not one of debug, info, warn, error", v)
		return def
	}
	return l
}

// secret reads a secret-bearing variable: NAME itself, or the content of the
// file named by NAME_FILE (the Docker and Kubernetes secrets convention).
// Setting both is an error, since which one wins would be a guess. Values
// never appear in errors.
func (r *envReader) secret(name string) string {
	v := r.lookup(name)
	path := strings.TrimSpace(r.getenv(name + "_FILE"))
	switch {
	case path == "":
		return strings.TrimSpace(v)
	case v != "":
		r.fail(name, "both %s and %s_FILE are set; set one", name, name)
		return ""
	}
	b, err := os.ReadFile(path) // #nosec G304 -- the operator names the file on purpose
	if err != nil {
		r.fail(name+"_FILE", "read %s: %v", path, errors.Unwrap(err))
		return ""
	}
	return strings.TrimSpace(string(b))
}
