package secretstest_test

import (
	"encoding/json"
	"testing"

	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

// The MemoryStore core tests rely on behaves like the adapters: it passes
// the same contracts.
func TestSecretMemoryStoreContracts(t *testing.T) {
	fixture := func(t *testing.T) (secretstest.Fixture, *secretstest.MemoryStore) {
		m := secretstest.NewMemoryStore(secrets.SchemeFile)
		ref := func(name string) secrets.Ref { return secrets.MustParseRef("file:/mem/" + name) }
		return secretstest.Fixture{
			Provider:  m,
			Scheme:    secrets.SchemeFile,
			Versioned: true,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				m.Set(ref(name), value)
				return ref(name)
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				b, _ := json.Marshal(fields)
				m.Set(ref(name), string(b))
				return ref(name)
			},
			Missing: func(t *testing.T, name string) secrets.Ref { return ref(name) },
		}, m
	}
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture { f, _ := fixture(t); return f })
	secretstest.RunWriter(t, func(t *testing.T) secretstest.WriterFixture {
		f, m := fixture(t)
		return secretstest.WriterFixture{
			Fixture: f, Writer: m,
			New: func(t *testing.T, name string) secrets.Ref { return secrets.MustParseRef("file:/mem/" + name) },
		}
	})
}
