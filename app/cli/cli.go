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
	"time"

	"github.com/joho/godotenv"

	"github.com/tradesense/tradesense/adapters/httpapi"
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
  secrets      secrets check: resolve every configured secret, print where each came from (never a value)
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
	if fs.NArg() > 0 && name != "migrate" && name != "secrets" {
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
	api, cleanup, err := wire.InitializeAPI(ctx, cfg, wire.LogOutput{Writer: stdout}, build)
	if err != nil {
		return fmt.Errorf("start api: %w", err)
	}
	defer cleanup()
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
	w, cleanup, err := wire.InitializeWorker(ctx, cfg, wire.LogOutput{Writer: stdout}, build)
	if err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer cleanup()
	return w.Run(ctx)
}

func runSecrets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := parseFlags("secrets", "secrets check: resolve every configured secret setting and print where it came from,\nits length and version, never its value. Exits 1 if any fails.", args, stderr, nil); err != nil {
		return ignoreHelp(err)
	}
	if len(args) != 1 || args[0] != "check" {
		return fmt.Errorf("%w: secrets takes the subcommand check", ErrUsage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	return wire.CheckSecrets(ctx, cfg, stdout)
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
