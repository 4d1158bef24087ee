// Package envsecrets serves "env:NAME[#key]" secret references from the
// process environment.
//
// The value of NAME is taken as is: it is not itself resolved as a reference,
// so references cannot loop. An unset or empty variable is NotFound.
package envsecrets

import (
	"context"

	"github.com/tradesense/tradesense/core/secrets"
)

const backend = "env"

// Getenv reads one environment variable; the composition root passes the
// getenv it was given by main (os.Getenv in production, a map in tests).
type Getenv func(name string) string

// Provider implements secrets.Provider over a Getenv.
type Provider struct {
	getenv Getenv
}

var _ secrets.Provider = (*Provider)(nil)

// New returns a Provider reading variables through getenv.
func New(getenv Getenv) *Provider {
	return &Provider{getenv: getenv}
}

// Get implements secrets.Provider. Values have no version.
func (p *Provider) Get(_ context.Context, ref secrets.Ref) (secrets.Secret, error) {
	if err := secrets.CheckScheme(backend, ref, secrets.SchemeEnv); err != nil {
		return secrets.Secret{}, err
	}
	v := p.getenv(ref.Path)
	if v == "" {
		return secrets.Secret{}, secrets.NotFound(backend, ref, nil)
	}
	return secrets.ExtractKey(backend, ref, secrets.New(v, ""))
}

var _ secrets.Writer = (*Provider)(nil)

// Put implements secrets.Writer by refusing: a process cannot change the
// environment of the running services. The error (Invalid,
// secret_backend_read_only) says so and what to do instead.
func (p *Provider) Put(_ context.Context, ref secrets.Ref, _ secrets.Secret, _ string) (string, error) {
	if err := secrets.CheckScheme(backend, ref, secrets.SchemeEnv); err != nil {
		return "", err
	}
	return "", secrets.ReadOnly(backend, ref, secrets.EnvReadOnlyReason())
}
