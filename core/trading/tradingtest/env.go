// Package tradingtest is the contract suite of the trading repositories,
// run through the trading.Service against every adapter, and the fakes it
// needs.
package tradingtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/uow"
)

// Stores are the repositories under test over an empty database, and the
// hooks the suite needs to create what other modules own.
type Stores struct {
	Accounts    trading.Accounts
	Instruments trading.Instruments
	Executions  trading.Executions
	Ledger      trading.Ledger
	Trades      trading.Trades
	Labels      trading.Labels
	Versions    trading.DataVersions
	Tx          uow.Runner
	// NewUser stores a user and returns its ID.
	NewUser func(t testing.TB) uuid.UUID
	// NewTag stores a tag of the user.
	NewTag func(t testing.TB, userID uuid.UUID) uuid.UUID
	// NewPlaybook stores a playbook of the user with n rules and returns
	// its ID and the rule IDs.
	NewPlaybook func(t testing.TB, userID uuid.UUID, n int) (uuid.UUID, []uuid.UUID)
	// Attach stores an attachment on a trade and AttachmentTrade reads
	// which trade it is on (uuid.Nil: none); both optional.
	Attach          func(t testing.TB, userID, tradeID uuid.UUID) uuid.UUID
	AttachmentTrade func(t testing.TB, id uuid.UUID) uuid.UUID
	// Pages, optional, is the service's cache of encoded trade pages
	// (trading.Deps.Pages), used when Versions are also trading.Stamps.
	Pages *cache.Layer
}

// Factory returns stores over an empty database.
type Factory func(t *testing.T) Stores

// Publisher records published events.
type Publisher struct {
	mu     sync.Mutex
	events []realtime.Event
	// During, when set, is called on every Publish (to check that the
	// write is visible then).
	During func(e realtime.Event)
}

// Publish implements realtime.Publisher.
func (p *Publisher) Publish(_ context.Context, e realtime.Event) error {
	if p.During != nil {
		p.During(e)
	}
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
	return nil
}

// Take returns and forgets the events so far.
func (p *Publisher) Take() []realtime.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.events
	p.events = nil
	return out
}

// Env is a trading.Service over Stores with a recording publisher, users
// in New York.
type Env struct {
	Stores
	Events *Publisher
	Zone   *time.Location
	Svc    *trading.Service
	// ZoneReads counts the service's reads of a user's zone.
	ZoneReads atomic.Int64
}

// NewEnv builds an Env over st.
func NewEnv(t testing.TB, st Stores) *Env {
	t.Helper()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Stores: st, Events: &Publisher{}, Zone: ny}
	svc, err := trading.NewService(trading.Deps{
		Accounts: st.Accounts, Instruments: st.Instruments, Executions: st.Executions, Ledger: st.Ledger, Trades: st.Trades,
		Labels: st.Labels, Versions: st.Versions, Tx: st.Tx, Events: e.Events, Pages: st.Pages,
		Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) {
			e.ZoneReads.Add(1)
			return ny, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	return e
}
