package secretstest

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/tradesense/tradesense/core/secrets"
)

// MemoryStore is an in-memory secret backend that reads and writes as the
// real ones do: every write makes a new numbered version, writes are
// check-and-set, #key reads and writes a field of a JSON object. It serves
// whatever schemes it is registered under, so core tests can exercise the
// Resolver, Rotate and WatchKey without an adapter. It passes the provider
// and writer contracts (see memory_test.go).
type MemoryStore struct {
	schemes []string
	mu      sync.Mutex
	docs    map[string][]string // path -> versions, oldest first
	gets    int
	puts    int
	failPut error
	// BeforePut, when set, runs before each write's check (outside the
	// lock): tests use it to slip a concurrent write in.
	BeforePut func(ref secrets.Ref)
}

var (
	_ secrets.Provider = (*MemoryStore)(nil)
	_ secrets.Writer   = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty store serving schemes.
func NewMemoryStore(schemes ...string) *MemoryStore {
	return &MemoryStore{schemes: schemes, docs: map[string][]string{}}
}

func (m *MemoryStore) check(ref secrets.Ref) error {
	if !slices.Contains(m.schemes, ref.Scheme) {
		return secrets.Invalid("memory", ref, "scheme not served by this store")
	}
	return nil
}

func key(ref secrets.Ref) string { return ref.Scheme + ":" + ref.Path }

// Set stores value as a new version of the whole secret at ref (its key
// ignored) and returns the version, as an operator's tool would.
func (m *MemoryStore) Set(ref secrets.Ref, value string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key(ref)
	m.docs[k] = append(m.docs[k], value)
	return strconv.Itoa(len(m.docs[k]))
}

// FailPuts makes every write fail with err until called with nil.
func (m *MemoryStore) FailPuts(err error) { m.mu.Lock(); m.failPut = err; m.mu.Unlock() }

// Counts returns the number of Get and Put calls served.
func (m *MemoryStore) Counts() (gets, puts int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets, m.puts
}

// Get implements secrets.Provider. The version is the version number.
func (m *MemoryStore) Get(_ context.Context, ref secrets.Ref) (secrets.Secret, error) {
	if err := m.check(ref); err != nil {
		return secrets.Secret{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	vs := m.docs[key(ref)]
	n := len(vs)
	if ref.Version != "" {
		var err error
		if n, err = strconv.Atoi(ref.Version); err != nil || n < 1 || n > len(vs) {
			return secrets.Secret{}, secrets.NotFound("memory", ref, nil)
		}
	}
	if n == 0 {
		return secrets.Secret{}, secrets.NotFound("memory", ref, nil)
	}
	return secrets.ExtractKey("memory", ref, secrets.New(vs[n-1], strconv.Itoa(n)))
}

// Put implements secrets.Writer.
func (m *MemoryStore) Put(_ context.Context, ref secrets.Ref, value secrets.Secret, ifVersion string) (string, error) {
	if err := m.check(ref); err != nil {
		return "", err
	}
	if ref.Version != "" || ref.Stage != "" {
		return "", secrets.Invalid("memory", ref, "a write cannot name a version or stage")
	}
	if m.BeforePut != nil {
		m.BeforePut(ref)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.failPut != nil {
		return "", m.failPut
	}
	k := key(ref)
	vs := m.docs[k]
	cur := secrets.NoVersion
	if len(vs) > 0 {
		cur = strconv.Itoa(len(vs))
	}
	if cur != ifVersion {
		return "", secrets.Conflict("memory", ref, "the secret is at version "+cur+", not "+ifVersion)
	}
	content := value.Reveal()
	if ref.Key != "" {
		var doc []byte
		if len(vs) > 0 {
			doc = []byte(vs[len(vs)-1])
		}
		b, err := secrets.SetJSONField(doc, ref.Key, content)
		if err != nil {
			return "", secrets.Malformed("memory", ref, `"#key" needs a JSON object`)
		}
		content = string(b)
	}
	m.docs[k] = append(vs, content)
	return strconv.Itoa(len(m.docs[k])), nil
}
