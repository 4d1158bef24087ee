package centrifuge

import (
	"errors"
	"net/url"
	"strings"
)

// redactedHost is the host of a Redis URL, the only part of REDIS_URL that
// may appear in logs and errors.
func redactedHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "unparsable URL"
	}
	return u.Host
}

// redactErr returns err with the Redis URL and its password removed from
// the message (the Redis client may quote its address).
func redactErr(err error, redisURL string) error {
	if err == nil || redisURL == "" {
		return err
	}
	msg := err.Error()
	out := strings.ReplaceAll(msg, redisURL, redactedHost(redisURL))
	if u, perr := url.Parse(redisURL); perr == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = strings.ReplaceAll(out, p, "[REDACTED]")
		}
	}
	if out == msg {
		return err
	}
	return errors.New(out)
}
