package envsecrets_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/tradesense/tradesense/adapters/envsecrets"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

// fakeEnv is a concurrency-safe environment.
type fakeEnv struct {
	mu sync.RWMutex
	m  map[string]string
}

func (e *fakeEnv) get(name string) string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.m[name]
}

func (e *fakeEnv) set(name, value string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[name] = value
}

func TestContract(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		env := &fakeEnv{m: map[string]string{}}
		varName := func(name string) string { return "TS_" + strings.ToUpper(name) }
		return secretstest.Fixture{
			Provider: envsecrets.New(env.get),
			Scheme:   secrets.SchemeEnv,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				env.set(varName(name), value)
				return secrets.MustParseRef("env:" + varName(name))
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				b, err := json.Marshal(fields)
				if err != nil {
					t.Fatal(err)
				}
				env.set(varName(name), string(b))
				return secrets.MustParseRef("env:" + varName(name))
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("env:" + varName(name))
			},
		}
	})
}

func TestSecretWritesAreRefused(t *testing.T) {
	p := envsecrets.New(func(string) string { return "current-value" })
	secretstest.RunReadOnly(t, p, secrets.MustParseRef("env:JWT_SIGNING_KEY"))
	secretstest.RunReadOnly(t, p, secrets.MustParseRef("env:APP_KEYS#jwt"))
}
