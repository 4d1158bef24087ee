package centrifuge

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config configures the engine. The zero value of a field selects its
// default (see DefaultConfig); env names are for .env.example.
type Config struct {
	// RedisURL selects the Redis broker and presence manager (fan-out and
	// history shared by every replica): redis://[user:password@]host:port/db
	// or rediss:// for TLS. Empty selects the in-process broker, which
	// serves one replica only. Env REDIS_URL. A secret: never logged.
	RedisURL string
	// RedisPrefix prefixes every Redis key and PUB/SUB channel of the
	// engine. Env REDIS_KEY_PREFIX followed by "realtime", default
	// "tradesense:realtime".
	RedisPrefix string
	// RedisDialTimeout bounds opening a Redis connection. Env
	// REDIS_DIAL_TIMEOUT, default 2s.
	RedisDialTimeout time.Duration
	// RedisCommandTimeout bounds one Redis operation (and so a Publish or a
	// Disconnect while Redis does not answer). Env REDIS_COMMAND_TIMEOUT,
	// default 1s.
	RedisCommandTimeout time.Duration
	// AllowedOrigins are the exact origins (scheme://host[:port]) whose
	// browsers may open a connection, as for CORS. A request without an
	// Origin header (native apps) and a same-origin request are always
	// allowed. Env CORS_ALLOWED_ORIGINS (comma separated).
	AllowedOrigins []string

	// TokenIssuer is the iss of connection tokens. Env AUTH_JWT_ISSUER,
	// default "tradesense".
	TokenIssuer string
	// TokenAudience is the aud of connection tokens; it must differ from
	// the access tokens' so that neither is accepted as the other. Env
	// REALTIME_TOKEN_AUDIENCE, default "tradesense-realtime".
	TokenAudience string
	// TokenTTL is a connection token's lifetime; clients refresh the
	// connection with a new token before it ends. Env REALTIME_TOKEN_TTL,
	// default 10m.
	TokenTTL time.Duration
	// RefreshGrace is how long a connection whose token expired stays open
	// while its client fetches and sends a new one. Env
	// REALTIME_REFRESH_GRACE, default 25s.
	RefreshGrace time.Duration

	// MaxConnectionsPerUser bounds one user's connections across every
	// replica (presence on the personal channel; each replica also enforces
	// it locally). Env REALTIME_MAX_CONNECTIONS_PER_USER, default 10.
	MaxConnectionsPerUser int
	// MaxMessageBytes bounds one frame from a client (clients only send
	// connect, refresh and pong). Env REALTIME_MAX_MESSAGE_BYTES, default
	// 8192.
	MaxMessageBytes int
	// MaxEventBytes bounds the JSON payload of one event; Publish refuses
	// larger ones. Env REALTIME_MAX_EVENT_BYTES, default 4096.
	MaxEventBytes int
	// ClientQueueBytes bounds what is queued for one connection; a client
	// that does not read fast enough is disconnected ("slow") when its
	// queue exceeds it, so the server's memory stays bounded. It must hold
	// a full history replay (HistorySize × MaxEventBytes plus framing).
	// Env REALTIME_CLIENT_QUEUE_BYTES, default 524288.
	ClientQueueBytes int
	// WriteTimeout bounds one write to a connection; a client whose socket
	// stays full that long is disconnected. Env REALTIME_WRITE_TIMEOUT,
	// default 1s.
	WriteTimeout time.Duration
	// WriteDelay, when positive, makes a timer flush each connection's
	// writes that long after the first one instead of a writer goroutine
	// per connection: about 4.7 KiB less per idle connection (19.1 against
	// 23.9 KiB through the API, 10,000 connections) for p50 +1.5-2 ms; on
	// the loaded two-core machine its p99 was lower, not higher, than the
	// goroutine's (fewer write syscalls; docs/benchmarks.md). Env
	// REALTIME_WRITE_DELAY, default 1ms (DefaultConfig); 0 selects a writer
	// goroutine per connection (and is what a zero Config gets).
	WriteDelay time.Duration
	// PingInterval is how often the server pings each connection. Env
	// REALTIME_PING_INTERVAL, default 25s.
	PingInterval time.Duration
	// PongTimeout is how long a client may take to answer a ping before it
	// is disconnected. Env REALTIME_PONG_TIMEOUT, default 8s.
	PongTimeout time.Duration

	// HistorySize is how many publications of a user's channel are kept for
	// recovery after a reconnect. Env REALTIME_HISTORY_SIZE, default 100.
	HistorySize int
	// HistoryTTL is how long they are kept. A client that was away longer
	// (or missed more than HistorySize) is told to reload. Env
	// REALTIME_HISTORY_TTL, default 10m.
	HistoryTTL time.Duration

	// NodeName names this replica in the engine's node registry and logs.
	// Env REALTIME_NODE_NAME, default the host name.
	NodeName string
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		RedisPrefix:           "tradesense:realtime",
		RedisDialTimeout:      2 * time.Second,
		RedisCommandTimeout:   time.Second,
		TokenIssuer:           "tradesense",
		TokenAudience:         "tradesense-realtime",
		TokenTTL:              10 * time.Minute,
		RefreshGrace:          25 * time.Second,
		MaxConnectionsPerUser: 10,
		MaxMessageBytes:       8192,
		MaxEventBytes:         4096,
		ClientQueueBytes:      512 << 10,
		WriteTimeout:          time.Second,
		WriteDelay:            time.Millisecond,
		PingInterval:          25 * time.Second,
		PongTimeout:           8 * time.Second,
		HistorySize:           100,
		HistoryTTL:            10 * time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setI := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.RedisPrefix, d.RedisPrefix)
	setD(&c.RedisDialTimeout, d.RedisDialTimeout)
	setD(&c.RedisCommandTimeout, d.RedisCommandTimeout)
	set(&c.TokenIssuer, d.TokenIssuer)
	set(&c.TokenAudience, d.TokenAudience)
	setD(&c.TokenTTL, d.TokenTTL)
	setD(&c.RefreshGrace, d.RefreshGrace)
	setI(&c.MaxConnectionsPerUser, d.MaxConnectionsPerUser)
	setI(&c.MaxMessageBytes, d.MaxMessageBytes)
	setI(&c.MaxEventBytes, d.MaxEventBytes)
	setI(&c.ClientQueueBytes, d.ClientQueueBytes)
	setD(&c.WriteTimeout, d.WriteTimeout)
	if c.WriteDelay < 0 {
		c.WriteDelay = 0
	}
	setD(&c.PingInterval, d.PingInterval)
	setD(&c.PongTimeout, d.PongTimeout)
	setI(&c.HistorySize, d.HistorySize)
	setD(&c.HistoryTTL, d.HistoryTTL)
	return c
}

// Validate reports unusable settings, naming the variable to fix. It
// checks the configuration with defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			errs = append(errs, errors.New("REDIS_URL: want redis://host:port/db or rediss://"))
		}
	}
	for _, o := range c.AllowedOrigins {
		if _, ok := normalOrigin(o); !ok {
			errs = append(errs, fmt.Errorf("CORS_ALLOWED_ORIGINS: %q is not an origin (scheme://host[:port])", o))
		}
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > time.Hour {
		errs = append(errs, errors.New("REALTIME_TOKEN_TTL: must be from 1m to 1h"))
	}
	if c.PongTimeout >= c.PingInterval {
		errs = append(errs, errors.New("REALTIME_PONG_TIMEOUT: must be shorter than REALTIME_PING_INTERVAL"))
	}
	if c.MaxConnectionsPerUser > 1000 {
		errs = append(errs, errors.New("REALTIME_MAX_CONNECTIONS_PER_USER: at most 1000"))
	}
	if c.MaxEventBytes > 64<<10 {
		errs = append(errs, errors.New("REALTIME_MAX_EVENT_BYTES: at most 65536 (events are small; send an id and let the client fetch)"))
	}
	if replay := c.HistorySize * (c.MaxEventBytes + 256); c.ClientQueueBytes < replay {
		errs = append(errs, fmt.Errorf("REALTIME_CLIENT_QUEUE_BYTES: %d cannot hold a history replay of %d events of up to %d bytes; raise it to at least %d or lower REALTIME_HISTORY_SIZE / REALTIME_MAX_EVENT_BYTES",
			c.ClientQueueBytes, c.HistorySize, c.MaxEventBytes, replay))
	}
	if c.WriteDelay > 100*time.Millisecond {
		errs = append(errs, errors.New("REALTIME_WRITE_DELAY: at most 100ms"))
	}
	if c.HistorySize > 1000 {
		errs = append(errs, errors.New("REALTIME_HISTORY_SIZE: at most 1000"))
	}
	if c.HistoryTTL > 24*time.Hour {
		errs = append(errs, errors.New("REALTIME_HISTORY_TTL: at most 24h"))
	}
	return errors.Join(errs...)
}

// normalOrigin returns o as browsers send it (lower-case scheme and host,
// no path), and whether it is an origin at all.
func normalOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), true
}
