// Package cli is the tradesense command line: it parses the subcommand and
// its flags, loads the configuration and runs the program that wire
// assembles. Tests start the real program through Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/wire"
)

// Stamped by the linker:
//
//	-X github.com/tradesense/tradesense/app/cli.version=...
//	-X github.com/tradesense/tradesense/app/cli.commit=...
//	-X github.com/tradesense/tradesense/app/cli.date=...
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// ErrUsage marks a mistake on the command line (exit status 2).
var ErrUsage = errors.New("usage")

const usage = `tradesense: the TradeSense backend.

Usage:
  tradesense <command> [flags]

Commands:
  api          serve the HTTP API (and, in the local profile, run the job worker)
  worker       run the background job worker
  migrate      apply or inspect database migrations: up | down | status
  users        administer accounts: create --email E [--admin] | set-role --email E --role admin|user
  secrets      check: resolve every configured secret, print where each came from (never a value)
               rotate NAME|--all [--dry-run] [--rollback]: new JWT/MFA key, written through its reference
  healthcheck  exit 0 if the local server answers /health, 1 otherwise
  version      print the build version

Configuration comes from environment variables (see .env.example); in
development a .env file in the working directory is read too.
Run 'tradesense <command> --help' for a command's flags.
`

// Run is the whole program behind main, with its inputs passed in so tests
// can start it in-process: it returns when ctx is cancelled or the command ends.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: a command is required", ErrUsage)
	}
	cmd, rest := args[1], args[2:]
	build := httpapi.BuildInfo{Version: version, Commit: commit, Date: date}
	switch cmd {
	case "api":
		return runAPI(ctx, rest, getenv, stdout, stderr, build)
	case "worker":
		return runWorker(ctx, rest, getenv, stdout, stderr, build)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, getenv, os.Stdin, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, getenv, stdout, stderr)
	case "secrets":
		return runSecrets(ctx, rest, getenv, stdout, stderr)
	case "version":
		if err := parseFlags("version", "Print the build version.", rest, stderr, nil); err != nil {
			return ignoreHelp(err)
		}
		_, err := fmt.Fprintf(stdout, "tradesense %s (commit %s, built %s)\n", version, commit, date)
		return err
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, cmd)
	}
}

// parseFlags parses a subcommand's flags; --help prints its usage and ends
// the command successfully.
func parseFlags(name, about string, args []string, stderr io.Writer, define func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tradesense %s [flags]\n\n%s\n", name, about)
		if define != nil {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %s: %w", ErrUsage, name, err)
	}
	if fs.NArg() > 0 && name != "migrate" {
		return fmt.Errorf("%w: %s takes no arguments, got %q", ErrUsage, name, fs.Args())
	}
	return nil
}

// errHelp ends a command after it printed its --help.
var errHelp = errors.New("help shown")

// loadConfig reads the configuration, merging a .env file in development.
// Real environment variables win over the file.
func loadConfig(getenv func(string) string) (wire.Config, error) {
	env := getenv
	if appEnv := getenv("APP_ENV"); appEnv == "" || appEnv == "development" {
		file, err := godotenv.Read(".env")
		switch {
		case err == nil:
			env = func(k string) string {
				if v := getenv(k); v != "" {
					return v
				}
				return file[k]
			}
		case !errors.Is(err, fs.ErrNotExist):
			return wire.Config{}, fmt.Errorf("read .env: %w", err)
		}
	}
	return wire.LoadConfig(env, version)
}

func runAPI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, build httpapi.BuildInfo) error {
	if err := parseFlags("api", "Serve the HTTP API on HTTP_ADDR until SIGTERM or SIGINT, then drain and exit 0.", args, stderr, nil); err != nil {
		return ignoreHelp(err)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	defer memoryLimits(ctx, getenv, apiMemoryLimit(cfg.Identity.Argon2, cfg.Identity.Hashing), hashingBudget(cfg.Identity.Argon2, cfg.Identity.Hashing))()
	// Logs to a file (stdout) are batched; flushed last, after every
	// cleanup has logged (see telemetry.LogWriter).
	logs, flushLogs := telemetry.BufferLogs(stdout)
	defer flushLogs()
	api, cleanup, err := wire.InitializeAPI(ctx, cfg, wire.LogOutput{Writer: logs}, build)
	if err != nil {
		return fmt.Errorf("start api: %w", err)
	}
	defer cleanup()
	go releaseStartupGarbage(ctx, api.Server.Listening(), startupSettle)
	return api.Run(ctx)
}

func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, build httpapi.BuildInfo) error {
	var queues string
	if err := parseFlags("worker", "Run the background job worker; probes and metrics are served on WORKER_HTTP_ADDR.", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&queues, "queues", "default,email,reports,maintenance", "comma-separated queues to consume, each optionally with its concurrency (email:16); default concurrency from WORKER_CONCURRENCY")
	}); err != nil {
		return ignoreHelp(err)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.AutoMigrate = false // the api or the migrate Job owns the schema
	if err := cfg.SelectQueues(queues); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	defer memoryLimits(ctx, getenv, 0, 0)() // the worker hashes no passwords: no fallback
	logs, flushLogs := telemetry.BufferLogs(stdout)
	defer flushLogs()
	w, cleanup, err := wire.InitializeWorker(ctx, cfg, wire.LogOutput{Writer: logs}, build)
	if err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer cleanup()
	go releaseStartupGarbage(ctx, w.Ops.Listening(), startupSettle)
	return w.Run(ctx)
}

// secretsUsage is the help of `tradesense secrets`.
//
// #nosec G101 -- help text, not a credential
const secretsUsage = `Usage:
  tradesense secrets check
  tradesense secrets rotate [--dry-run] [--rollback] [--grace D] (--all | NAME...)

check resolves every configured secret setting and prints where it came from, its
length and version, never its value. Exits 1 if any fails.

rotate generates a new key for JWT_SIGNING_KEY and/or MFA_ENCRYPTION_KEY (256 random
bits), writes it through the setting's own reference (file, Vault KV v2, AWS Secrets
Manager; check-and-set, so concurrent rotations cannot lose a key), keeps the replaced
key beside it so the running services still accept it, reads the new key back and
prints the new version and where it went, never the key. Running services switch
within SECRETS_CACHE_TTL without a restart. Literal values and env: references cannot
be written. See docs/secrets.md.
`

func runSecrets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, secretsUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: secrets takes the subcommand check or rotate", ErrUsage)
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("secrets "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, secretsUsage)
		if sub == "rotate" {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	var opts wire.RotateOptions
	switch sub {
	case "check":
	case "rotate":
		fs.BoolVar(&opts.All, "all", false, "rotate every key setting: "+strings.Join(wire.RotatableKeys(), ", "))
		fs.BoolVar(&opts.DryRun, "dry-run", false, "show what would be written, write nothing")
		fs.BoolVar(&opts.Rollback, "rollback", false, "make the previous key current again (the current one is kept as previous)")
		fs.DurationVar(&opts.JWTGrace, "grace", 0, "how long the replaced JWT_SIGNING_KEY stays accepted (default SECRETS_CACHE_TTL + AUTH_ACCESS_TOKEN_TTL + 30s)")
	default:
		fmt.Fprint(stderr, secretsUsage)
		return fmt.Errorf("%w: unknown secrets subcommand %q", ErrUsage, sub)
	}
	names, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: secrets %s: %w", ErrUsage, sub, err)
	}
	switch {
	case sub == "check" && len(names) > 0:
		return fmt.Errorf("%w: secrets check takes no arguments", ErrUsage)
	case sub == "rotate" && opts.All == (len(names) > 0):
		return fmt.Errorf("%w: secrets rotate takes --all or setting names (%s), not both", ErrUsage, strings.Join(wire.RotatableKeys(), ", "))
	case sub == "rotate" && opts.JWTGrace < 0:
		return fmt.Errorf("%w: --grace must not be negative", ErrUsage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if sub == "check" {
		return wire.CheckSecrets(ctx, cfg, stdout)
	}
	opts.Settings = names
	opts.Actor = actor(getenv)
	return wire.RotateKeys(ctx, cfg, opts, stdout, wire.LogOutput{Writer: stderr})
}

// parseInterspersed parses flags before, between and after the positional
// arguments (`rotate JWT_SIGNING_KEY --dry-run`), which flag.Parse alone
// stops at; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// actor names who runs the command, for the audit lines: the operator's
// login and the host (the pod name in Kubernetes).
func actor(getenv func(string) string) string {
	name := getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "uid-" + strconv.Itoa(os.Getuid())
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return "cli:" + name + "@" + host
}

func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var addr string
	var timeout time.Duration
	if err := parseFlags("healthcheck", "Call /health on the local server and exit 0 if it answers 200, 1 otherwise.", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&addr, "addr", "", "address to check (default: HTTP_ADDR, or :8000)")
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	}); err != nil {
		return ignoreHelp(err)
	}
	if addr == "" {
		addr = getenv("HTTP_ADDR")
	}
	if addr == "" {
		addr = ":8000"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: healthcheck address %q: %w", ErrUsage, addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: status %d", url, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

func ignoreHelp(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := parseFlags("migrate", "Apply or inspect database migrations on DATABASE_URL:\n  up      apply every pending migration\n  down    roll the latest migration back\n  status  list migrations and whether each is applied", args, stderr, nil); err != nil {
		return ignoreHelp(err)
	}
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		return fmt.Errorf("%w: migrate takes one of up, down, status", ErrUsage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.AutoMigrate = false
	m, cleanup, err := wire.InitializeMigrator(ctx, cfg, wire.LogOutput{Writer: stderr})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer cleanup()
	return m.Run(ctx, args[0], stdout)
}
