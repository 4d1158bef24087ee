package wire

import (
	"strings"
	"testing"
	"time"
)

func TestRealtimeConfig(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{
		"REDIS_KEY_PREFIX": "acme:", "AUTH_JWT_ISSUER": "acme", "CORS_ALLOWED_ORIGINS": "https://app.acme.test",
		"REALTIME_TOKEN_TTL": "5m", "REALTIME_MAX_CONNECTIONS_PER_USER": "3", "REALTIME_WRITE_DELAY": "0",
	}), "v")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Realtime
	if r.RedisPrefix != "acme:realtime" || r.TokenIssuer != "acme" || len(r.AllowedOrigins) != 1 || r.AllowedOrigins[0] != "https://app.acme.test" ||
		r.TokenTTL != 5*time.Minute || r.MaxConnectionsPerUser != 3 || r.WriteDelay != 0 || r.TokenAudience != "tradesense-realtime" {
		t.Fatalf("realtime config %+v", r)
	}
	if d, _ := LoadConfig(envOf(nil), "v"); d.Realtime.WriteDelay != time.Millisecond {
		t.Fatalf("default REALTIME_WRITE_DELAY %s, want 1ms", d.Realtime.WriteDelay)
	}

	_, err = LoadConfig(envOf(map[string]string{"REALTIME_TOKEN_AUDIENCE": "tradesense-api", "REALTIME_TOKEN_TTL": "2h", "REALTIME_PONG_TIMEOUT": "30s"}), "v")
	for _, name := range []string{"REALTIME_TOKEN_AUDIENCE", "REALTIME_TOKEN_TTL", "REALTIME_PONG_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
