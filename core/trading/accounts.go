package trading

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/zone"
)

var (
	reCurrency = regexp.MustCompile(`^[A-Z]{3}$`)
	rePreset   = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)
	reRootKey  = regexp.MustCompile(`^[A-Z0-9]{1,6}$`)
)

// AccountInput is a new account.
type AccountInput struct {
	Name            string
	Broker          string
	BrokerPreset    string
	Currency        string
	StartingBalance decimal.NullDecimal
	Timezone        string
	BreakevenBand   decimal.Decimal
	Multipliers     map[string]decimal.Decimal
}

// AccountPatch changes an account; nil fields stay.
type AccountPatch struct {
	Name            *string
	Broker          *string
	BrokerPreset    *string
	Currency        *string
	StartingBalance *decimal.NullDecimal
	Timezone        *string
	BreakevenBand   *decimal.Decimal
	Multipliers     *map[string]decimal.Decimal
	Archived        *bool
}

// MaxAccountNameLen bounds an account's name and broker, in characters
// (the spec's maxLength says the same: a test compares them).
const MaxAccountNameLen = 100

func validateAccount(a *Account) error {
	fields := map[string]string{}
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || utf8.RuneCountInString(a.Name) > MaxAccountNameLen || !utf8.ValidString(a.Name) {
		fields["name"] = fmt.Sprintf("must be 1 to %d characters", MaxAccountNameLen)
	}
	a.Broker = strings.TrimSpace(a.Broker)
	if utf8.RuneCountInString(a.Broker) > MaxAccountNameLen || !utf8.ValidString(a.Broker) {
		fields["broker"] = fmt.Sprintf("must be at most %d characters", MaxAccountNameLen)
	}
	if a.BrokerPreset != "" && !rePreset.MatchString(a.BrokerPreset) {
		fields["broker_preset"] = "must be a preset id such as ibkr_flex"
	}
	a.Currency = strings.ToUpper(strings.TrimSpace(a.Currency))
	if !isoCurrency(a.Currency) {
		fields["currency"] = "must be an ISO 4217 code such as USD"
	}
	if a.StartingBalance.Valid && a.StartingBalance.Decimal.IsNegative() {
		fields["starting_balance"] = "must not be negative"
	}
	if a.Timezone != "" {
		if !zone.Valid(a.Timezone) {
			fields["timezone"] = "must be an IANA time zone such as America/New_York"
		}
	}
	if a.BreakevenBand.IsNegative() {
		fields["breakeven_band"] = "must not be negative"
	}
	if len(a.Multipliers) > 200 {
		fields["multipliers"] = "at most 200 overrides"
	}
	norm := make(map[string]decimal.Decimal, len(a.Multipliers))
	for k, v := range a.Multipliers {
		k = strings.ToUpper(strings.TrimSpace(k))
		if !reRootKey.MatchString(k) || !v.IsPositive() {
			fields["multipliers"] = fmt.Sprintf("%.10q: a root of 1 to 6 letters or digits with a positive multiplier", k)
			continue
		}
		if root, dated := contractOfKnownRoot(k); dated {
			// ESZ26 never matches: overrides are looked up by root.
			fields["multipliers"] = fmt.Sprintf("%q is a contract month of %s: an override is per root, give %q", k, root, root)
			continue
		}
		norm[k] = v
	}
	a.Multipliers = norm
	if len(fields) > 0 {
		return apperr.Validation("invalid account", fields)
	}
	return nil
}

// CreateAccount creates a trading account for the user.
func (s *Service) CreateAccount(ctx context.Context, userID uuid.UUID, in AccountInput) (*Account, error) {
	now := s.now()
	a := &Account{ID: s.d.NewID(), UserID: userID, Name: in.Name, Broker: in.Broker, BrokerPreset: in.BrokerPreset, Currency: in.Currency,
		StartingBalance: in.StartingBalance, Timezone: in.Timezone, BreakevenBand: in.BreakevenBand, Multipliers: maps.Clone(in.Multipliers),
		Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := validateAccount(a); err != nil {
		return nil, err
	}
	err := s.write(ctx, userID, func(ctx context.Context, _ *changes) error { return s.d.Accounts.Create(ctx, a) })
	if err != nil {
		return nil, err
	}
	return a, nil
}

// GetAccount returns one of the user's accounts.
func (s *Service) GetAccount(ctx context.Context, userID, id uuid.UUID) (*Account, error) {
	return s.d.Accounts.Get(ctx, userID, id, false)
}

// ListAccounts returns the user's accounts, archived ones when asked.
func (s *Service) ListAccounts(ctx context.Context, userID uuid.UUID, archived bool) ([]Account, error) {
	return s.d.Accounts.List(ctx, userID, archived)
}

// UpdateAccount applies patch if the account's version is still ifVersion
// (0: whatever it is). A change of multipliers, time zone or breakeven
// band rebuilds every position of the account in the same transaction.
func (s *Service) UpdateAccount(ctx context.Context, userID, id uuid.UUID, p AccountPatch, ifVersion int64) (*Account, error) {
	var out *Account
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		a, err := s.d.Accounts.Get(ctx, userID, id, true)
		if err != nil {
			return err
		}
		if ifVersion != 0 && a.Version != ifVersion {
			return stale()
		}
		before := *a
		set(&a.Name, p.Name)
		set(&a.Broker, p.Broker)
		set(&a.BrokerPreset, p.BrokerPreset)
		set(&a.Currency, p.Currency)
		set(&a.StartingBalance, p.StartingBalance)
		set(&a.Timezone, p.Timezone)
		set(&a.BreakevenBand, p.BreakevenBand)
		set(&a.Archived, p.Archived)
		if p.Multipliers != nil {
			a.Multipliers = maps.Clone(*p.Multipliers)
		}
		if err := validateAccount(a); err != nil {
			return err
		}
		// An archived account's record is read-only until a patch
		// unarchives it (that patch may change the rest too).
		same := sameAccountRecord(&before, a)
		if before.Archived && a.Archived && !same {
			return apperr.New(apperr.Conflict, CodeAccountArchived, "the account is archived: unarchive it to change it")
		}
		if same && before.Archived == a.Archived {
			out = &before // nothing changes: the version (ETag) stays
			return nil
		}
		a.Version++
		a.UpdatedAt = s.now()
		if err := s.d.Accounts.Update(ctx, a); err != nil {
			return err
		}
		// The currency decides which trades the band applies to
		// (OutcomeBand).
		if a.Timezone != before.Timezone || !a.BreakevenBand.Equal(before.BreakevenBand) || a.Currency != before.Currency ||
			!maps.EqualFunc(a.Multipliers, before.Multipliers, decimal.Decimal.Equal) {
			if _, err := s.rebuildAll(ctx, a, ch); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// sameAccountRecord reports whether a and b hold the same settings, the
// archived flag aside.
func sameAccountRecord(a, b *Account) bool {
	return a.Name == b.Name && a.Broker == b.Broker && a.BrokerPreset == b.BrokerPreset && a.Currency == b.Currency &&
		a.StartingBalance.Valid == b.StartingBalance.Valid && a.StartingBalance.Decimal.Equal(b.StartingBalance.Decimal) &&
		a.Timezone == b.Timezone && a.BreakevenBand.Equal(b.BreakevenBand) && maps.EqualFunc(a.Multipliers, b.Multipliers, decimal.Decimal.Equal)
}

// UserZoneChanged derives again the trades of the user's accounts that
// follow the user's time zone (Timezone ""), archived ones included: their
// weekdays, hours and session dates are the zone's. It is what an
// account's own zone change does (UpdateAccount), for the user's; called by
// core/identity in the transaction of the profile update
// (identity.ZoneObserver), it joins that transaction and reads the new
// zone.
func (s *Service) UserZoneChanged(ctx context.Context, userID uuid.UUID) error {
	return s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		// Every account's lock in ID order at once: taken one by one in
		// the list's order (by name), they could wait on a bulk
		// annotation holding them in another order.
		if err := s.d.Accounts.LockAll(ctx, userID); err != nil {
			return err
		}
		accounts, err := s.d.Accounts.List(ctx, userID, true)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			if a.Timezone != "" {
				continue
			}
			locked, err := s.d.Accounts.Get(ctx, userID, a.ID, true)
			if apperr.Is(err, apperr.NotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			if locked.Timezone != "" {
				continue
			}
			if _, err := s.rebuildAll(ctx, locked, ch); err != nil {
				return err
			}
		}
		return nil
	})
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// DeleteAccount deletes an account. It refuses (apperr.Conflict
// "account_has_executions") while the account has executions, unless
// cascade, which deletes them and their trades with it. The hooks of
// OnAccountDelete run first, in the same transaction.
func (s *Service) DeleteAccount(ctx context.Context, userID, id uuid.UUID, cascade bool) error {
	return s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		if _, err := s.d.Accounts.Get(ctx, userID, id, true); err != nil {
			return err
		}
		pos, err := s.d.Ledger.Positions(ctx, userID, id)
		if err != nil {
			return err
		}
		if len(pos) > 0 && !cascade {
			return apperr.New(apperr.Conflict, CodeAccountHasData, "the account has executions: delete them first or ask for cascade=true")
		}
		if len(pos) > 0 {
			ch.bulkAccounts[id] = true
		}
		for _, h := range s.deleting {
			if err := h(ctx, userID, id); err != nil {
				return err
			}
		}
		return s.d.Accounts.Delete(ctx, userID, id)
	})
}

// RebuildStats counts what a rebuild did.
type RebuildStats struct {
	Positions int
	Trades    int // trades of the account after the rebuild
	Created   int
	Changed   int
	Deleted   int
	Rows      int // rows written
}

// RebuildAccount derives every trade of the account again from its
// executions, writing only what differs. Memory is bounded by the largest
// position, not by the account.
func (s *Service) RebuildAccount(ctx context.Context, userID, accountID uuid.UUID) (RebuildStats, error) {
	var st RebuildStats
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		a, err := s.d.Accounts.Get(ctx, userID, accountID, true)
		if err != nil {
			return err
		}
		st, err = s.rebuildAll(ctx, a, ch)
		return err
	})
	return st, err
}

func (s *Service) rebuildAll(ctx context.Context, a *Account, ch *changes) (RebuildStats, error) {
	var st RebuildStats
	pos, err := s.d.Ledger.Positions(ctx, a.UserID, a.ID)
	if err != nil {
		return st, err
	}
	slices.SortFunc(pos, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
	err = s.rebuildPositions(ctx, a, pos, ch, func(p *Plan, rows int) {
		st.Positions++
		st.Trades += len(p.Trades)
		st.Created += len(p.Created)
		st.Changed += len(p.Changed)
		st.Deleted += len(p.Deleted)
		st.Rows += rows
	})
	if err != nil {
		return st, err
	}
	return st, nil
}

// isoCurrency reports whether code is a currency of ISO 4217 (three
// letters, upper case): a typo such as UTC or QQQ would split every figure
// into a currency of its own. XXX (no currency) and XTS (for testing) are
// codes but not currencies an account can hold.
func isoCurrency(code string) bool {
	if !reCurrency.MatchString(code) || code == "XXX" || code == "XTS" {
		return false
	}
	_, err := currency.ParseISO(code)
	return err == nil
}

// contractOfKnownRoot reports whether key is a dated contract of a
// futures root of the built-in table (ESZ26, ESZ6), which an override
// keyed by it would never match, and that root.
func contractOfKnownRoot(key string) (string, bool) {
	c, err := ParseFuture(key, time.Now())
	if err != nil || c.Month == 0 || c.Root == key {
		return "", false
	}
	_, known := futureSpecs[c.Root]
	return c.Root, known
}
