package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/wire"
)

const usersUsage = `Usage:
  tradesense users create --email E [--admin]
  tradesense users set-role --email E --role admin|user

create makes a verified account. Its password comes from the TRADESENSE_PASSWORD
environment variable, or is prompted for on a terminal, or is read as one line from
standard input; never from a flag (flags show in process lists and shell history).
set-role changes a role and ends the user's sessions.
`

// runUsers administers accounts from the command line.
func runUsers(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usersUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: users needs a subcommand", ErrUsage)
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usersUsage) }
	email := fs.String("email", "", "the account's email address")
	var admin bool
	var role string
	switch sub {
	case "create":
		fs.BoolVar(&admin, "admin", false, "give the account the admin role")
	case "set-role":
		fs.StringVar(&role, "role", "", "admin or user")
	default:
		fmt.Fprint(stderr, usersUsage)
		return fmt.Errorf("%w: unknown users subcommand %q", ErrUsage, sub)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: users %s: %w", ErrUsage, sub, err)
	}
	if *email == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: users %s needs --email and no other arguments", ErrUsage, sub)
	}
	if sub == "set-role" && !identity.Role(role).Valid() {
		return fmt.Errorf("%w: --role must be admin or user", ErrUsage)
	}
	var password string
	if sub == "create" {
		var err error
		if password, err = readPassword(getenv, stdin, stderr); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	prog, cleanup, err := wire.InitializeUsers(ctx, cfg, wire.LogOutput{Writer: stderr})
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer cleanup()
	switch sub {
	case "create":
		r := identity.RoleUser
		if admin {
			r = identity.RoleAdmin
		}
		u, err := prog.Identity.CreateUser(ctx, *email, password, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s (%s) with role %s\n", u.Email, u.ID, u.Role)
	case "set-role":
		u, err := prog.Identity.SetRole(ctx, *email, identity.Role(role))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) now has role %s; their sessions were ended\n", u.Email, u.ID, u.Role)
	}
	return nil
}

func readPassword(getenv func(string) string, stdin io.Reader, stderr io.Writer) (string, error) {
	if pw := getenv("TRADESENSE_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: no password: set TRADESENSE_PASSWORD or pipe it on standard input", ErrUsage)
	}
	return line, nil
}
