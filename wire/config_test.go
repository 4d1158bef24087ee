package wire

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(envOf(nil), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Env != Development || cfg.HTTP.Addr != ":8000" || cfg.DataDir != "./data" ||
		cfg.Telemetry.LogFormat != "text" || cfg.Telemetry.LogLevel != slog.LevelInfo ||
		cfg.HTTP.ShutdownTimeout != 20*time.Second || cfg.HTTP.MaxBodyBytes != 1<<20 || cfg.HTTP.HSTS ||
		cfg.Worker.Addr != ":8001" || cfg.Telemetry.ServiceVersion != "v1" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{
		"APP_ENV": "test", "HTTP_ADDR": "127.0.0.1:9", "DATA_DIR": "/tmp/x", "LOG_LEVEL": "debug",
		"LOG_FORMAT": "json", "SHUTDOWN_TIMEOUT": "3s", "SHUTDOWN_DELAY": "1s", "HTTP_MAX_BODY_BYTES": "2048",
		"CORS_ALLOWED_ORIGINS": "https://a.test, https://b.test", "HTTP_TRUSTED_PROXIES": "10.0.0.0/8",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER_ARG": "0.25",
		"WORKER_HTTP_ADDR": ":9001", "HEALTH_CHECK_TIMEOUT": "500ms", "HTTP_HSTS": "true",
	}), "v")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Env != Test || cfg.HTTP.Addr != "127.0.0.1:9" || cfg.DataDir != "/tmp/x" ||
		cfg.Telemetry.LogLevel != slog.LevelDebug || cfg.HTTP.ShutdownTimeout != 3*time.Second ||
		cfg.HTTP.ShutdownDelay != time.Second || cfg.HTTP.MaxBodyBytes != 2048 ||
		len(cfg.HTTP.CORSAllowedOrigins) != 2 || cfg.HTTP.CORSAllowedOrigins[1] != "https://b.test" ||
		cfg.HTTP.TrustedProxies[0] != "10.0.0.0/8" || cfg.Telemetry.OTLPEndpoint != "http://c:4318" ||
		cfg.Telemetry.SampleRatio != 0.25 || cfg.Worker.Addr != ":9001" || cfg.HealthTimeout != HealthTimeout(500*time.Millisecond) || !cfg.HTTP.HSTS {
		t.Fatalf("config: %+v", cfg)
	}
}

func TestLoadConfigNamesEveryBadVariable(t *testing.T) {
	_, err := LoadConfig(envOf(map[string]string{
		"APP_ENV": "staging", "SHUTDOWN_TIMEOUT": "soon", "HTTP_MAX_BODY_BYTES": "-1",
		"LOG_LEVEL": "loud", "OTEL_TRACES_SAMPLER_ARG": "2", "HTTP_HSTS": "maybe", "CORS_ALLOWED_ORIGINS": "*",
	}), "v")
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"APP_ENV", "SHUTDOWN_TIMEOUT", "HTTP_MAX_BODY_BYTES", "LOG_LEVEL", "OTEL_TRACES_SAMPLER_ARG", "HTTP_HSTS", "CORS_ALLOWED_ORIGINS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestProductionRefusesInsecureSettings(t *testing.T) {
	_, err := LoadConfig(envOf(map[string]string{"APP_ENV": "production", "LOG_FORMAT": "text", "LOG_LEVEL": "debug"}), "v")
	if err == nil {
		t.Fatal("production accepted text debug logs")
	}
	for _, name := range []string{"LOG_FORMAT", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	if err := os.WriteFile(path, []byte("postgres://u:pw@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &envReader{getenv: envOf(map[string]string{"DATABASE_URL_FILE": path})}
	if got := r.secret("DATABASE_URL"); got != "postgres://u:pw@h/db" || r.err() != nil {
		t.Fatalf("secret = %q, err %v", got, r.err())
	}
	r = &envReader{getenv: envOf(map[string]string{"DATABASE_URL_FILE": path, "DATABASE_URL": "x"})}
	r.secret("DATABASE_URL")
	if r.err() == nil || !strings.Contains(r.err().Error(), "DATABASE_URL_FILE") {
		t.Fatalf("both set: %v", r.err())
	}
	r = &envReader{getenv: envOf(map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "missing")})}
	r.secret("DATABASE_URL")
	if r.err() == nil {
		t.Fatal("missing file accepted")
	}
}

// TestEveryVariableIsDocumented keeps .env.example and the README table in
// step with what LoadConfig reads.
func TestEveryVariableIsDocumented(t *testing.T) {
	_, names, err := loadConfig(envOf(nil), "v")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 15 {
		t.Fatalf("only %d variables recorded", len(names))
	}
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(example), "\n"+n+"=") && !strings.Contains(string(example), "\n# "+n+"=") {
			t.Errorf(".env.example lacks %s", n)
		}
		if !strings.Contains(string(readme), "| `"+n+"`") {
			t.Errorf("README.md configuration table lacks %s", n)
		}
	}
}

func TestProductionRefusesVaultWithoutTLSVerification(t *testing.T) {
	_, err := LoadConfig(envOf(map[string]string{
		"APP_ENV": "production", "DB_AUTO_MIGRATE": "false",
		"VAULT_ADDR": "https://vault:8200", "VAULT_TOKEN": "t", "VAULT_SKIP_VERIFY": "true",
	}), "v")
	if err == nil || !strings.Contains(err.Error(), "VAULT_SKIP_VERIFY") {
		t.Fatalf("err %v", err)
	}
	_, err = LoadConfig(envOf(map[string]string{"APP_ENV": "production", "DB_AUTO_MIGRATE": "true"}), "v")
	if err == nil || !strings.Contains(err.Error(), "DB_AUTO_MIGRATE") {
		t.Fatalf("auto-migrate in production accepted: %v", err)
	}
}

func TestAWSIsEnabledByAReference(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"JWT_SIGNING_KEY": "aws:tradesense/prod#jwt", "AWS_REGION": "eu-west-1"}), "v")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets.AWS == nil || cfg.Secrets.AWS.Region != "eu-west-1" || cfg.Secrets.Vault != nil {
		t.Fatalf("secrets config %+v", cfg.Secrets)
	}
	cfg, _ = LoadConfig(envOf(nil), "v")
	if cfg.Secrets.AWS != nil {
		t.Fatal("AWS enabled without a reference")
	}
}

func TestProfileFollowsRedisURL(t *testing.T) {
	for env, want := range map[string]Profile{"": Local, "REDIS_URL": Services, "REDIS_URL_FILE": Services} {
		vars := map[string]string{}
		if env != "" {
			vars[env] = "redis://127.0.0.1:1/0"
		}
		cfg, err := LoadConfig(envOf(vars), "v")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Profile != want {
			t.Errorf("%s set: profile %q, want %q", env, cfg.Profile, want)
		}
	}
}

func TestSelectQueuesKeepsConfiguredConcurrency(t *testing.T) {
	cfg, err := LoadConfig(envOf(map[string]string{"WORKER_CONCURRENCY": "default:4,email:2"}), "v")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.SelectQueues("email,reports"); err != nil {
		t.Fatal(err)
	}
	if q := cfg.Jobs.Worker.Queues; len(q) != 2 || q["email"] != 2 || q["reports"] != 2 {
		t.Fatalf("queues %v: want email as configured and reports at its default", q)
	}
	if err := cfg.SelectQueues("email:16"); err != nil || cfg.Jobs.Worker.Queues["email"] != 16 {
		t.Fatalf("an explicit concurrency wins: %v %v", cfg.Jobs.Worker.Queues, err)
	}
	if err := cfg.SelectQueues("nope"); err == nil || !strings.Contains(err.Error(), "--queues") {
		t.Fatalf("unknown queue: %v", err)
	}
}

func TestHashConcurrencyDefaultsToHalfTheCPUs(t *testing.T) {
	if got := hashConcurrency(3); got != 3 {
		t.Fatalf("explicit 3 became %d", got)
	}
	want := max(1, runtime.GOMAXPROCS(0)/2)
	if got := hashConcurrency(0); got != want {
		t.Fatalf("default %d, want %d (half of GOMAXPROCS %d, at least 1)", got, want, runtime.GOMAXPROCS(0))
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	if got := hashConcurrency(0); got != 1 {
		t.Fatalf("one CPU: %d, want 1", got)
	}
}

// TestTradePageCacheBound: 8 MiB by default, 0 turns the cache off, a
// bound under 1 MiB is refused by name.
func TestTradePageCacheBound(t *testing.T) {
	for v, want := range map[string]uint64{"": 8 << 20, "0": 0, "16777216": 16 << 20} {
		cfg, err := LoadConfig(envOf(map[string]string{"TRADES_PAGE_CACHE_MAX_BYTES": v}), "v")
		if err != nil || cfg.Journal.PageCacheMaxBytes != want {
			t.Errorf("TRADES_PAGE_CACHE_MAX_BYTES=%q: %d, %v; want %d", v, cfg.Journal.PageCacheMaxBytes, err, want)
		}
	}
	for _, v := range []string{"1000", "-1", "lots"} {
		if _, err := LoadConfig(envOf(map[string]string{"TRADES_PAGE_CACHE_MAX_BYTES": v}), "v"); err == nil || !strings.Contains(err.Error(), "TRADES_PAGE_CACHE_MAX_BYTES") {
			t.Errorf("TRADES_PAGE_CACHE_MAX_BYTES=%q: %v", v, err)
		}
	}
}
