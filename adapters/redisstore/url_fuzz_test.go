package redisstore

import (
	"strings"
	"testing"
)

// FuzzParseURL checks that parseURL never panics and that its errors never
// contain the password of the URL it was given.
func FuzzParseURL(f *testing.F) {
	for _, s := range [][3]string{
		{"", "secretpw", "127.0.0.1:6379/0"},
		{"user", "p@ss:w/rd", "host:port/0"},
		{"u", "hunter22", "[::1]:6379/x"},
		{"", "abcdef", "h:abcdef/0"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, user, password, rest string) {
		raw := "redis://" + user + ":" + password + "@" + rest
		opts, err := parseURL(raw)
		if err == nil {
			if opts == nil || opts.Addr == "" {
				t.Fatalf("parseURL(%q) returned no address and no error", raw)
			}
			return
		}
		if len(password) < 6 || strings.ContainsAny(password, "@/?#%") || strings.Contains("redis: REDIS_URL is invalid: xxxxx", password) {
			return // not a password we can recognise unambiguously
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("parseURL(%q) error leaks the password: %v", raw, err)
		}
	})
}
