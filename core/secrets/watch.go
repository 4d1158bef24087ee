package secrets

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// DefaultMinReloadInterval spaces the reloads KeyWatch.Reload makes, so
// that tokens naming unknown keys cannot hammer the backend.
const DefaultMinReloadInterval = 5 * time.Second

// KeyWatchConfig configures WatchKey.
type KeyWatchConfig struct {
	// Setting names the key in logs (JWT_SIGNING_KEY).
	Setting string
	// Current is the key as resolved at start. Ref is the reference it was
	// read through; the zero Ref (a literal) is never watched.
	Current Secret
	Ref     Ref
	// Configured are previous keys from the configuration (*_PREVIOUS
	// variables): always accepted.
	Configured []Secret
	// Grace is how long a key this process saw replaced stays accepted
	// when the history (HistoryRef) does not say; zero keeps it until the
	// process ends. The history's own Until wins for a key it holds.
	Grace time.Duration
	// Apply installs a key set: the current key and the accepted previous
	// ones, newest first. It is called once from WatchKey and again on
	// every change, never concurrently; it must be quick. An error at
	// start fails WatchKey; later, it is logged and the previous set stays.
	Apply func(current []byte, previous [][]byte) error
	// MinReloadInterval spaces Reload's backend calls (default
	// DefaultMinReloadInterval).
	MinReloadInterval time.Duration
	// Log may be nil. Time is time.Now and time.After (tests move it with
	// testing/synctest).
	Log *slog.Logger
}

// KeyWatch keeps a consumer's key set (a JWT or MFA key ring) in step with
// a key setting while the process runs: the current key, the keys of the
// history kept beside it (see HistoryRef, Rotate), the keys this process
// saw replaced, and the configured previous keys, each until its grace
// period ends. It follows the Resolver's refresh through Subscribe, so a
// rotation reaches it within SECRETS_CACHE_TTL, and Reload lets a consumer
// that meets an unknown key ID ask for it at once.
type KeyWatch struct {
	cfg     KeyWatchConfig
	r       *Resolver
	histRef Ref // zero when the setting has no history
	log     *slog.Logger

	mu         sync.Mutex // guards the key state and serialises Apply
	current    Secret
	history    KeyHistory
	seen       []RetiredKey // replaced while watched
	generation uint64       // bumped on every key set applied
	// appliedCurrent and applied are the key set last applied.
	appliedCurrent []byte
	applied        [][]byte

	histMu     sync.Mutex // guards histCancel
	histCancel func()

	reloadMu    sync.Mutex
	inflight    chan struct{}
	lastReload  time.Time
	lastChanged bool

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	cancelKey func()
	closeOnce sync.Once
}

// WatchKey applies the key set of cfg and keeps it current until the
// returned cleanup (also Close) is called. A setting that is a literal is
// applied once and not watched. A missing or unreadable history is logged
// and treated as empty: the service starts with what it can read.
func WatchKey(ctx context.Context, r *Resolver, cfg KeyWatchConfig) (*KeyWatch, func(), error) {
	if cfg.Apply == nil {
		return nil, nil, errors.New("secrets: WatchKey needs an Apply function")
	}
	if cfg.MinReloadInterval <= 0 {
		cfg.MinReloadInterval = DefaultMinReloadInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	w := &KeyWatch{
		cfg: cfg, r: r, current: cfg.Current,
		log:  cfg.Log.With("setting", cfg.Setting),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		cancelKey: func() {},
	}
	if cfg.Ref.Scheme == "" {
		close(w.done)
		if err := w.rebuild(); err != nil {
			return nil, nil, err
		}
		return w, w.Close, nil
	}
	if h, err := HistoryRef(cfg.Ref); err == nil {
		w.histRef = h
	} else {
		w.log.DebugContext(ctx, "key setting has no history beside it", "ref", cfg.Ref.String(), "reason", err)
	}
	cur, cancel, err := r.Subscribe(ctx, cfg.Ref, w.onKey)
	if err != nil {
		return nil, nil, err
	}
	w.cancelKey = cancel
	w.mu.Lock()
	w.current = cur
	w.mu.Unlock()
	w.loadHistory(ctx, false)
	if err := w.rebuild(); err != nil {
		cancel()
		w.cancelHistory()
		return nil, nil, err
	}
	go w.loop()
	return w, w.Close, nil
}

// Close stops watching; the key set stays as last applied. It is
// idempotent.
func (w *KeyWatch) Close() {
	w.closeOnce.Do(func() {
		w.cancelKey()
		// Under histMu, so that a history load in flight cannot subscribe
		// after this.
		w.histMu.Lock()
		close(w.stop)
		w.cancelHistoryLocked()
		w.histMu.Unlock()
		<-w.done
	})
}

func (w *KeyWatch) cancelHistory() {
	w.histMu.Lock()
	defer w.histMu.Unlock()
	w.cancelHistoryLocked()
}

func (w *KeyWatch) cancelHistoryLocked() {
	if w.histCancel != nil {
		w.histCancel()
		w.histCancel = nil
	}
}

// onKey runs on the Resolver's refresh when the key changes.
func (w *KeyWatch) onKey(s Secret) {
	now := time.Now()
	w.mu.Lock()
	if !s.Equal(w.current) {
		var until time.Time
		if w.cfg.Grace > 0 {
			until = now.Add(w.cfg.Grace)
		}
		w.seen = slices.DeleteFunc(w.seen, func(k RetiredKey) bool { return k.Value.Equal(w.current) || k.Value.Equal(s) })
		w.seen = append([]RetiredKey{{Value: w.current, Version: w.current.Version(), RetiredAt: now, Until: until}}, w.seen...)
		w.log.Info("key rotated", "old_version", w.current.Version(), "new_version", s.Version())
	}
	w.current = s
	w.mu.Unlock()
	if err := w.rebuild(); err != nil {
		w.log.Error("rotated key refused; keeping the previous key set", "error", err)
	}
	// The history was written just before the key: fetch it now rather
	// than at its next refresh (off the refresh goroutine: it is a fetch).
	if w.histRef.Scheme != "" {
		go w.loadHistory(context.Background(), true)
	}
}

// onHistory runs when the history changes.
func (w *KeyWatch) onHistory(s Secret) {
	h, err := ParseKeyHistory(s)
	if err != nil {
		w.log.Error("key history unreadable; keeping the previous one", "ref", w.histRef.String(), "error", err)
		return
	}
	w.mu.Lock()
	w.history = h
	w.mu.Unlock()
	if err := w.rebuild(); err != nil {
		w.log.Error("key history refused; keeping the previous key set", "error", err)
	}
}

// loadHistory reads the history (from the backend when fresh) and
// subscribes to it once it exists.
func (w *KeyWatch) loadHistory(ctx context.Context, fresh bool) {
	if w.histRef.Scheme == "" {
		return
	}
	var s Secret
	var err error
	if fresh {
		s, err = w.r.Reload(ctx, w.histRef)
	} else {
		s, err = w.r.Get(ctx, w.histRef)
	}
	switch {
	case apperr.Is(err, apperr.NotFound):
		return
	case err != nil:
		w.log.WarnContext(ctx, "key history unreadable", "ref", w.histRef.String(), "error", err)
		return
	}
	w.onHistory(s)
	w.histMu.Lock()
	defer w.histMu.Unlock()
	select {
	case <-w.stop:
		return
	default:
	}
	if w.histCancel == nil {
		if _, cancel, err := w.r.Subscribe(ctx, w.histRef, w.onHistory); err == nil {
			w.histCancel = cancel
		}
	}
}

// rebuild computes the key set at now and applies it when it changed.
func (w *KeyWatch) rebuild() error {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	// The loop recomputes its timer: an expiry may have changed even when
	// the key set did not.
	defer func() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}()
	var prev []Secret
	add := func(s Secret) {
		if s.Equal(w.current) || slices.ContainsFunc(prev, s.Equal) {
			return
		}
		prev = append(prev, s)
	}
	for _, k := range w.history.Accepted(now) {
		add(k.Value)
	}
	for _, k := range w.seen {
		inHistory := slices.ContainsFunc(w.history.Keys, func(h RetiredKey) bool { return h.Value.Equal(k.Value) })
		if !inHistory && !k.Expired(now) {
			add(k.Value)
		}
	}
	for _, s := range w.cfg.Configured {
		add(s)
	}
	current := w.current.Bytes()
	previous := make([][]byte, len(prev))
	for i, s := range prev {
		previous[i] = s.Bytes()
	}
	same := func(a, b []byte) bool { return string(a) == string(b) }
	if w.generation > 0 && same(current, w.appliedCurrent) && slices.EqualFunc(previous, w.applied, same) {
		return nil
	}
	if err := w.cfg.Apply(current, previous); err != nil {
		return err
	}
	w.appliedCurrent, w.applied = current, previous
	w.generation++
	return nil
}

// nextExpiry is the earliest Until after now among the keys that can
// expire; ok is false when none can.
func (w *KeyWatch) nextExpiry(now time.Time) (t time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range append(slices.Clone(w.history.Keys), w.seen...) {
		if k.Until.IsZero() || !k.Until.After(now) {
			continue
		}
		if !ok || k.Until.Before(t) {
			t, ok = k.Until, true
		}
	}
	return t, ok
}

// loop re-applies the key set when a key's grace period ends.
func (w *KeyWatch) loop() {
	defer close(w.done)
	for {
		var timer <-chan time.Time
		if t, ok := w.nextExpiry(time.Now()); ok {
			timer = time.After(time.Until(t))
		}
		select {
		case <-w.stop:
			return
		case <-w.wake:
		case <-timer:
			w.mu.Lock()
			now := time.Now()
			w.seen = slices.DeleteFunc(w.seen, func(k RetiredKey) bool { return k.Expired(now) })
			w.mu.Unlock()
			if err := w.rebuild(); err != nil {
				w.log.Error("key set refused after a grace period ended", "error", err)
			} else {
				w.log.Info("a replaced key's grace period ended; it is no longer accepted")
			}
		}
	}
}

// Previous returns the previous keys last applied, newest first (for
// tests and diagnostics; they are secrets).
func (w *KeyWatch) Previous() []Secret {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Secret, len(w.applied))
	for i, b := range w.applied {
		out[i] = FromBytes(b, "")
	}
	return out
}

// Reload fetches the key and its history from the backend now, for a
// consumer that met a key ID it does not know (a token signed, or a secret
// sealed, by a replica that saw the rotation first). Concurrent calls share
// one reload; reloads are at least MinReloadInterval apart, and a call
// inside that interval returns the last reload's answer at once, without a
// fetch. It reports whether the key set changed, in which case the
// consumer should look the ID up again.
func (w *KeyWatch) Reload(ctx context.Context) bool {
	if w.cfg.Ref.Scheme == "" {
		return false
	}
	w.reloadMu.Lock()
	if ch := w.inflight; ch != nil {
		w.reloadMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
		w.reloadMu.Lock()
		defer w.reloadMu.Unlock()
		return w.lastChanged
	}
	now := time.Now()
	if !w.lastReload.IsZero() && now.Sub(w.lastReload) < w.cfg.MinReloadInterval {
		// Too soon for another fetch; a caller that just missed the last
		// reload is told what it found.
		changed := w.lastChanged
		w.reloadMu.Unlock()
		return changed
	}
	ch := make(chan struct{})
	w.inflight, w.lastReload = ch, now
	w.reloadMu.Unlock()

	before := w.gen()
	if _, err := w.r.Reload(ctx, w.cfg.Ref); err != nil {
		w.log.WarnContext(ctx, "key reload failed", "error", err)
	}
	w.loadHistory(ctx, true)
	changed := w.gen() != before

	w.reloadMu.Lock()
	w.lastChanged = changed
	w.inflight = nil
	w.reloadMu.Unlock()
	close(ch)
	return changed
}

func (w *KeyWatch) gen() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.generation
}
