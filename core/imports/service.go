package imports

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/uow"
	"github.com/tradesense/tradesense/core/zone"
)

// KindRun is the import job: it runs on the default queue (Route sends
// "imports.*" there), because an import is user-facing work measured in
// seconds that must not wait behind report rendering, and a queue of its
// own would need every worker deployment to subscribe to one more stream.
const KindRun = "imports.run"

// KindRequeue is the periodic job that enqueues again the imports still
// queued a minute after they were created (RequeueQueued): those whose
// job could not be enqueued while the job store was down.
const KindRequeue = "maintenance.requeue_imports"

// Trading is what imports needs of the trading module (*trading.Service).
type Trading interface {
	GetAccount(ctx context.Context, userID, id uuid.UUID) (*trading.Account, error)
	RecordExecutions(ctx context.Context, userID, accountID uuid.UUID, o trading.AddOptions,
		feed func(ctx context.Context, record trading.RecordFunc) error) (*trading.RecordResult, error)
	ListExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, p trading.Page) ([]trading.Execution, string, error)
	DeleteImportExecutions(ctx context.Context, userID, accountID, importID uuid.UUID) (*trading.UndoImportResult, error)
	ListTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, p trading.Page) (trading.TradePage, error)
	TermsConflicts(ctx context.Context, userID, accountID uuid.UUID, ins []trading.ExecutionInput) (map[int]string, error)
	ExecutionTerms(ctx context.Context, userID, accountID, instrumentID uuid.UUID) (decimal.Decimal, string, error)
	OnAccountDelete(h trading.AccountDeleteHook)
}

// Enqueuer enqueues jobs (*jobs.Client).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, payload any, opts ...jobs.Option) (string, error)
}

// Config tunes imports.
type Config struct {
	// MaxBytes caps an uploaded file (env IMPORT_MAX_BYTES, 10 MB).
	MaxBytes int64
	// PreviewRows is how many fills and rejected rows a preview reads (50).
	PreviewRows int
	// MaxWarnings bounds the warnings kept on an import (100).
	MaxWarnings int
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config { return Config{MaxBytes: 10 << 20, PreviewRows: 50, MaxWarnings: 100} }

// Deps are the Service's collaborators; all required but Log, Now and
// NewID.
type Deps struct {
	Imports  Imports
	Mappings Mappings
	Trading  Trading
	Blobs    blob.Store
	Jobs     Enqueuer
	Events   realtime.Publisher
	Zones    trading.UserZones
	Tx       uow.Runner
	Log      *slog.Logger
	Now      func() time.Time
	NewID    func() uuid.UUID
}

// Service holds the import use cases and the import job.
type Service struct {
	cfg Config
	d   Deps
}

// NewService checks d and returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if d.Imports == nil || d.Mappings == nil || d.Trading == nil || d.Blobs == nil || d.Jobs == nil || d.Events == nil || d.Zones == nil || d.Tx == nil {
		return nil, errors.New("imports: NewService: a required dependency is nil")
	}
	def := DefaultConfig()
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = def.MaxBytes
	}
	if cfg.PreviewRows <= 0 {
		cfg.PreviewRows = def.PreviewRows
	}
	if cfg.MaxWarnings <= 0 {
		cfg.MaxWarnings = def.MaxWarnings
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	s := &Service{cfg: cfg, d: d}
	d.Trading.OnAccountDelete(s.accountDeleted)
	return s, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Upload is a file to preview or import.
type Upload struct {
	AccountID uuid.UUID
	// Broker is a preset ID; "" detects it from the header.
	Broker string
	// Timezone is the IANA zone of the file's times; "" means the
	// account's, else the user's.
	Timezone string
	// MappingID names a saved mapping, Mapping gives one (generic preset).
	MappingID uuid.UUID
	Mapping   map[string]string
	Strict    bool
	Filename  string
	Body      io.Reader
	// Size is the body's length in bytes.
	Size int64
}

// Preview is what importing a file would do, from its first rows.
type Preview struct {
	Broker   string
	Columns  map[string]string
	Fills    []Fill
	Rejected []RejectedRow
	Warnings []string
	Timezone string
}

func invalid(code, field, msg string) error {
	e := apperr.Validation(msg, map[string]string{field: msg})
	e.Code = code
	return e
}

// ErrFileTooLarge is returned for a file over Config.MaxBytes.
func (s *Service) tooLarge() error {
	return apperr.New(apperr.Invalid, CodeFileTooLarge, fmt.Sprintf("the file is larger than %d bytes", s.cfg.MaxBytes))
}

// uploadSettings are an upload's options resolved.
type uploadSettings struct {
	loc     *time.Location
	mapping map[string]string
	roots   map[string]decimal.Decimal // the account's multipliers (trading.InstrumentSpec.Roots)
	cur     string                     // the account's currency (Options.Currency)
}

// settings resolves an upload's options: the account (the user's; for an
// import, not archived: apperr.Conflict "account_archived" at once rather
// than a job that fails), the zone, the mapping.
func (s *Service) settings(ctx context.Context, userID uuid.UUID, up *Upload, write bool) (uploadSettings, error) {
	a, err := s.d.Trading.GetAccount(ctx, userID, up.AccountID)
	if err != nil {
		return uploadSettings{}, err
	}
	if write && a.Archived {
		return uploadSettings{}, apperr.New(apperr.Conflict, trading.CodeAccountArchived, "the account is archived: unarchive it to import into it")
	}
	if up.Broker != "" {
		if _, ok := Lookup(up.Broker); !ok {
			return uploadSettings{}, invalid(CodePresetUnknown, "broker", "unknown preset: one of "+strings.Join(PresetIDs(), ", "))
		}
	}
	zoneName := up.Timezone
	if zoneName == "" {
		zoneName = a.Timezone
	}
	var loc *time.Location
	if zoneName != "" {
		if loc, err = zone.Load(zoneName); err != nil {
			return uploadSettings{}, invalid(CodeTimezoneInvalid, "timezone", "not an IANA time zone such as America/New_York")
		}
	} else if loc, err = s.d.Zones.Location(ctx, userID); err != nil {
		return uploadSettings{}, err
	}
	// One mapping, for the generic preset: with both, or with another
	// preset (whose columns are its own), one would be silently ignored.
	switch {
	case up.MappingID != uuid.Nil && len(up.Mapping) > 0:
		return uploadSettings{}, invalid(CodeMappingInvalid, "mapping", "give a mapping or a mapping_id, not both")
	case (up.MappingID != uuid.Nil || len(up.Mapping) > 0) && up.Broker != "" && up.Broker != PresetGeneric:
		return uploadSettings{}, invalid(CodeMappingInvalid, "broker", "a column mapping is for the generic preset: leave broker out or give generic")
	}
	mapping := up.Mapping
	if up.MappingID != uuid.Nil {
		m, err := s.d.Mappings.Get(ctx, userID, up.MappingID)
		if err != nil {
			return uploadSettings{}, err
		}
		mapping = m.Columns
	}
	if len(mapping) > 0 {
		if bad := ValidateMapping(mapping); len(bad) > 0 {
			e := apperr.Validation("invalid column mapping", prefixed("mapping.", bad))
			e.Code = CodeMappingInvalid
			return uploadSettings{}, e
		}
		if up.Broker == "" {
			up.Broker = PresetGeneric
		}
	}
	return uploadSettings{loc: loc, mapping: mapping, roots: a.Multipliers, cur: a.Currency}, nil
}

func prefixed(p string, m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[p+k] = v
	}
	return out
}

// headRecords reads the first records of head (detection).
func headRecords(head []byte) []*Record {
	r := NewReader(bytes.NewReader(head))
	var out []*Record
	for len(out) < 40 {
		rec, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			continue
		}
		out = append(out, rec)
	}
	return out
}

// detect picks the parser: the given preset, or the first whose
// signature the head has; apperr.Invalid "import_format_unknown" (naming
// the presets) otherwise.
func detect(broker string, br *bufio.Reader) (Parser, error) {
	if broker != "" {
		p, _ := Lookup(broker)
		return p, nil
	}
	head, _ := br.Peek(64 << 10)
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, apperr.New(apperr.Invalid, CodeFileEmpty, "the file is empty")
	}
	p, ok := Detect(headRecords(head))
	if !ok {
		return nil, apperr.New(apperr.Invalid, CodeFormatUnknown,
			"the file's format was not recognised: choose a preset ("+strings.Join(PresetIDs(), ", ")+") or map its columns with the generic preset")
	}
	return p, nil
}

// collector is the Sink of previews and imports.
type collector struct {
	fills    []Fill
	rejected []RejectedRow
	notes    []string // about the whole file, first
	zoned    bool     // a fill read in the file's zone without an ID (noteZone)
	warnings []string
	skipped  map[string]int
	columns  map[string]string
	limit    int // stop after this many fills and rejects (0: none)
	maxWarn  int
	moreWarn int
	onRow    func(rows, rejected int)
	n        int // rows received (fills and rejects; the fills of one row, a round trip's two, count once)
	lastLine int // the line of the last fill or reject
}

func (c *collector) rows() int { return c.n }

func (c *collector) Fill(f Fill) {
	c.fills = append(c.fills, f)
	c.sawZoned(&f)
	c.tick(f.Line)
}

// sawZoned notes a fill whose instant depends on the file's zone and that
// has nothing else to be recognised by (noteZone).
func (c *collector) sawZoned(f *Fill) {
	if f.Local && f.Input.BrokerExecutionID == "" {
		c.zoned = true
	}
}

func (c *collector) Reject(r RejectedRow) {
	c.rejected = append(c.rejected, r)
	c.tick(r.Line)
}

func (c *collector) tick(line int) {
	if line != 0 && line == c.lastLine {
		return // another fill of the same row
	}
	c.lastLine = line
	c.n++
	if c.onRow != nil {
		c.onRow(c.n, len(c.rejected))
	}
}

func (c *collector) Skip(_ int, reason string) {
	if c.skipped == nil {
		c.skipped = map[string]int{}
	}
	c.skipped[reason]++
}

func (c *collector) Warn(line int, msg string) {
	if len(c.warnings) >= c.maxWarn {
		c.moreWarn++
		return
	}
	c.warnings = append(c.warnings, fmt.Sprintf("line %d: %s", line, msg))
}

func (c *collector) Columns(m map[string]string) { c.columns = m }

func (c *collector) allWarnings() []string {
	out := append(slices.Clone(c.notes), c.warnings...)
	if c.moreWarn > 0 {
		out = append(out, fmt.Sprintf("%d more warnings", c.moreWarn))
	}
	reasons := make([]string, 0, len(c.skipped))
	for r := range c.skipped {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		rows := "rows"
		if c.skipped[r] == 1 {
			rows = "row"
		}
		out = append(out, fmt.Sprintf("%d %s skipped: %s", c.skipped[r], rows, r))
	}
	return out
}

// limitSink stops a preview once enough rows were read.
type limitSink struct{ *collector }

func (l limitSink) Fill(f Fill) {
	if l.limit == 0 || l.rows() < l.limit {
		l.collector.Fill(f)
	}
}

func (l limitSink) Reject(r RejectedRow) {
	if l.limit == 0 || l.rows() < l.limit {
		l.collector.Reject(r)
	}
}

// headerBinds reads r until p has bound its header and read one row, and
// answers the format problem if it cannot bind it (a column a mapping
// names missing, a required one absent); other faults are the run's.
func headerBinds(ctx context.Context, p Parser, r io.Reader, set uploadSettings) error {
	c := &collector{limit: 1, maxWarn: 1}
	err := p.Parse(ctx, NewReader(stopReader{r: r, stop: func() bool { return c.rows() >= c.limit }}), Options{Location: set.loc, Mapping: set.mapping, Roots: set.roots, Currency: set.cur}, limitSink{c})
	var fe *FormatError
	if errors.As(err, &fe) {
		return formatProblem(err)
	}
	return nil
}

// stopReader ends the stream once the preview has its rows, so that a
// preview of a large file reads only its head.
type stopReader struct {
	r    io.Reader
	stop func() bool
}

func (s stopReader) Read(p []byte) (int, error) {
	if s.stop() {
		return 0, io.EOF
	}
	return s.r.Read(p)
}

// Preview reads the first Config.PreviewRows rows of a file and says
// what importing it would do; nothing is written.
func (s *Service) Preview(ctx context.Context, userID uuid.UUID, up Upload) (*Preview, error) {
	if up.Size > s.cfg.MaxBytes {
		return nil, s.tooLarge()
	}
	set, err := s.settings(ctx, userID, &up, false)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(io.LimitReader(up.Body, s.cfg.MaxBytes+1), 64<<10)
	p, err := detect(up.Broker, br)
	if err != nil {
		return nil, err
	}
	c := &collector{limit: s.cfg.PreviewRows, maxWarn: s.cfg.MaxWarnings}
	src := stopReader{r: br, stop: func() bool { return c.rows() >= c.limit }}
	if err := p.Parse(ctx, NewReader(src), Options{Location: set.loc, Mapping: set.mapping, Roots: set.roots, Currency: set.cur}, limitSink{c}); err != nil {
		return nil, formatProblem(err)
	}
	if err := s.noteZone(ctx, c, userID, up.AccountID, uuid.Nil, p.ID(), set.loc); err != nil {
		return nil, err
	}
	fills, rejected := s.validate(c.fills, set.roots)
	rejected = append(rejected, c.rejected...)
	slices.SortFunc(rejected, func(a, b RejectedRow) int { return a.Line - b.Line })
	warnings, err := s.termsWarnings(ctx, userID, up.AccountID, fills)
	if err != nil {
		return nil, err
	}
	return &Preview{Broker: p.ID(), Columns: c.columns, Fills: fills, Rejected: rejected, Warnings: append(c.allWarnings(), warnings...),
		Timezone: set.loc.String()}, nil
}

// termsWarnings says which of a preview's fills the import would be
// refused for: a multiplier other than the one the account's executions
// of the instrument are recorded under (or than the file's first fill of
// it), which fails the whole import when it records (a file cannot hold
// two contracts under one symbol in one account), or a currency other
// than the one the instrument's trades are in. One warning per line, in
// line order.
func (s *Service) termsWarnings(ctx context.Context, userID, accountID uuid.UUID, fills []Fill) ([]string, error) {
	if !slices.ContainsFunc(fills, func(f Fill) bool { return !f.Input.Multiplier.IsZero() || f.Input.Currency != "" }) {
		return nil, nil // only a fill that gives its multiplier or currency can conflict
	}
	ins := make([]trading.ExecutionInput, len(fills))
	for i := range fills {
		ins[i] = fills[i].Input
	}
	conflicts, err := s.d.Trading.TermsConflicts(ctx, userID, accountID, ins)
	if err != nil || len(conflicts) == 0 {
		return nil, err
	}
	var out []string
	for i := range fills {
		if msg, ok := conflicts[i]; ok {
			w := fmt.Sprintf("line %d: %s; importing this file would fail", fills[i].Line, msg)
			if len(out) == 0 || out[len(out)-1] != w { // a round-trip row's two fills: one warning
				out = append(out, w)
			}
		}
	}
	return out, nil
}

// noteZone warns (first among c's warnings) when c read a fill whose
// instant depends on the file's zone (a wall-clock time, Fill.Local)
// and that has no broker execution ID, and the account's last succeeded
// import of the same preset (among its 50 newest, not self) read its
// file in another zone than loc: such fills are recognised by their
// instant, so the same fills read an hour (or a move across the world)
// apart would be added again. A user who moved, or an account whose zone
// changed, is the usual cause.
func (s *Service) noteZone(ctx context.Context, c *collector, userID, accountID, self uuid.UUID, broker string, loc *time.Location) error {
	if !c.zoned {
		return nil
	}
	earlier, err := s.d.Imports.List(ctx, userID, accountID, time.Time{}, 50)
	if err != nil {
		return err
	}
	for _, e := range earlier {
		if e.ID == self || e.Broker != broker || e.Status != Succeeded {
			continue
		}
		if e.Timezone != loc.String() {
			c.notes = append(c.notes, fmt.Sprintf("this file's times are read in %s, but the account's %s import of %s read them in %s: fills without a broker execution ID read in another zone fall at other instants and are not recognised as the same; give timezone %s if the file is in that zone",
				loc, broker, e.CreatedAt.UTC().Format(time.DateOnly), e.Timezone, e.Timezone))
		}
		return nil
	}
	return nil
}

func formatProblem(err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return apperr.Wrap(err, apperr.Invalid, CodeFormatUnknown, fe.Error())
	}
	return err
}

// instrumentKey caches instrument resolution per symbol and terms.
type instrumentKey struct {
	class        trading.AssetClass
	symbol, mult string
	currency     string
	year         int
}

// checker applies trading's rules to fills one at a time, so that one bad
// row is rejected with its line instead of failing the file; roots are
// the account's multipliers (a future of a root outside the built-in
// table may take its multiplier from there).
type checker struct {
	cache        map[instrumentKey]string
	roots        map[string]decimal.Decimal
	minAt, maxAt time.Time
}

func newChecker(roots map[string]decimal.Decimal) *checker {
	return &checker{cache: map[instrumentKey]string{}, roots: roots,
		minAt: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), maxAt: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func badText(r rune) bool { return r < ' ' || r == 0x7f }

// reason is why in cannot be recorded, "" when it can.
func (c *checker) reason(in *trading.ExecutionInput) string {
	switch {
	case !in.Side.Valid():
		return "side: must be buy or sell"
	case !in.Quantity.IsPositive():
		return "quantity: must be positive"
	case in.Price.IsNegative() && !trading.MayTradeBelowZero(in, c.roots):
		return "price: must not be negative (only futures and CFDs trade below zero)"
	case in.ExecutedAt.Before(c.minAt) || !in.ExecutedAt.Before(c.maxAt):
		return "time: must be between 1970 and 2200"
	case len(in.BrokerExecutionID) > 128:
		return "execution ID: longer than 128 characters"
	case strings.ContainsFunc(in.BrokerExecutionID, badText) || strings.ContainsFunc(in.Currency, badText):
		return "execution ID or currency: control characters"
	}
	mult := ""
	if !in.Multiplier.IsZero() {
		mult = in.Multiplier.String()
	}
	k := instrumentKey{in.AssetClass, in.Symbol, mult, in.Currency, in.ExecutedAt.Year()}
	msg, seen := c.cache[k]
	if !seen {
		spec := in.InstrumentSpec()
		spec.Roots = c.roots
		_, err := trading.ResolveInstrument(spec, in.ExecutedAt)
		if err != nil {
			msg = "symbol: invalid"
			if e, ok := apperr.As(err); ok {
				for k, v := range e.Fields {
					if k == "currency" {
						msg = "currency " + fmt.Sprintf("%.40q", in.Currency) + ": " + v
					} else {
						msg = "symbol " + fmt.Sprintf("%.40q", in.Symbol) + ": " + v
					}
				}
			}
		}
		c.cache[k] = msg
	}
	return msg
}

// validate applies the checker to each fill, roots the account's
// multipliers. It reuses fills' array for the accepted fills (the caller
// must not use fills afterwards).
func (s *Service) validate(fills []Fill, roots map[string]decimal.Decimal) ([]Fill, []RejectedRow) {
	ok := fills[:0] // filtered in place
	var bad []RejectedRow
	c := newChecker(roots)
	for _, f := range fills {
		if reason := c.reason(&f.Input); reason != "" {
			bad = append(bad, RejectedRow{Line: f.Line, Raw: f.Raw, Reason: reason})
			continue
		}
		ok = append(ok, f)
	}
	return ok, bad
}

// accountDeleted is the imports' part of deleting an account
// (trading.AccountDeleteHook): the account's imports go with it (the
// database's cascade), their uploaded files once the deletion commits.
func (s *Service) accountDeleted(ctx context.Context, userID, accountID uuid.UUID) error {
	keys, err := s.d.Imports.BlobKeys(ctx, userID, accountID)
	if err != nil || len(keys) == 0 {
		return err
	}
	uow.AfterCommit(ctx, func(ctx context.Context) {
		for _, key := range keys {
			if err := s.d.Blobs.Delete(ctx, key); err != nil && !apperr.Is(err, apperr.NotFound) {
				s.d.Log.WarnContext(ctx, "imports: delete a deleted account's import file", slog.String("key", key), slog.Any("error", err))
			}
		}
	})
	return nil
}

// Create stores the uploaded file through the blob port, records a
// queued import and, once that has committed, enqueues its job (the
// job's ID is the import's). The file's format is detected here, so that
// an unknown format is refused at once.
func (s *Service) Create(ctx context.Context, userID uuid.UUID, up Upload) (*Import, error) {
	if up.Size > s.cfg.MaxBytes {
		return nil, s.tooLarge()
	}
	if up.Size <= 0 {
		return nil, apperr.New(apperr.Invalid, CodeFileEmpty, "the file is empty")
	}
	set, err := s.settings(ctx, userID, &up, true)
	if err != nil {
		return nil, err
	}
	id := s.d.NewID()
	key := fmt.Sprintf("imports/%s/%s.csv", userID, id)
	if err := s.d.Blobs.Put(ctx, key, up.Body, up.Size, "text/csv"); err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			if err := s.d.Blobs.Delete(context.WithoutCancel(ctx), key); err != nil {
				s.d.Log.WarnContext(ctx, "imports: delete refused upload", slog.String("key", key), slog.Any("error", err))
			}
		}
	}()
	rc, _, err := s.d.Blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	p, err := detect(up.Broker, br)
	if err == nil {
		// The header binds (a mapping's columns are all there), or the
		// upload is refused now rather than by a job that fails.
		err = headerBinds(ctx, p, br, set)
	}
	_ = rc.Close()
	if err != nil {
		return nil, err
	}
	now := s.d.Now().UTC()
	imp := &Import{ID: id, UserID: userID, AccountID: up.AccountID, Broker: p.ID(), Filename: cleanName(up.Filename), BlobKey: key, Size: up.Size,
		Timezone: set.loc.String(), Mapping: set.mapping, Strict: up.Strict, Status: Queued, CreatedAt: now, Version: 1}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Imports.Create(ctx, imp); err != nil {
			return err
		}
		uow.AfterCommit(ctx, func(ctx context.Context) {
			if err := s.enqueue(ctx, imp); err != nil {
				s.d.Log.ErrorContext(ctx, "imports: enqueue (left queued: the next read of it enqueues it again)",
					slog.String("import_id", imp.ID.String()), slog.Any("error", err))
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	keep = true
	return imp, nil
}

type runPayload struct {
	ImportID uuid.UUID `json:"import_id"`
	UserID   uuid.UUID `json:"user_id"`
}

// enqueue enqueues the import's job (its ID the import's, so enqueueing
// it again returns the job there is). When that fails (the job store is
// down), the import stays queued: its row and its file are committed, so
// the 202 that acknowledged it holds, and the next read of it enqueues it
// again (settle) until it runs.
func (s *Service) enqueue(ctx context.Context, imp *Import) error {
	_, err := s.d.Jobs.Enqueue(ctx, KindRun, runPayload{ImportID: imp.ID, UserID: imp.UserID},
		jobs.WithID(imp.ID.String()), jobs.WithOwner(imp.UserID.String()))
	return err
}

func cleanName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
	if len(s) > 200 {
		s = s[:200]
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

// Get returns one of the user's imports with its rejected rows.
func (s *Service) Get(ctx context.Context, userID, id uuid.UUID) (*Import, error) {
	imp, err := s.d.Imports.Get(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	s.settle(ctx, imp)
	return imp, nil
}

// staleReason is the error of an import settled by settle.
const staleReason = "the import's job stopped before it finished (out of retries, for example through a database outage); nothing was imported: upload the file again"

// settle first enqueues a queued import's job again (a no-op when it is
// there: its ID is the import's), so that an import acknowledged while
// the job store was down runs once it is back; while it is still down
// the import stays queued. Then it turns an import still queued or
// running StaleAfter after it was created into the failure it is: its
// job died out of retries (a PostgreSQL outage longer than the retries'
// backoff, say) without committing anything, and nothing would ever
// finish it. It records that (and publishes import.finished) when the
// database lets it; the answer says failed either way.
func (s *Service) settle(ctx context.Context, imp *Import) {
	if imp.Status == Queued {
		if err := s.enqueue(ctx, imp); err != nil {
			s.d.Log.WarnContext(ctx, "imports: enqueue a queued import again", slog.String("import_id", imp.ID.String()), slog.Any("error", err))
			return // the job store is still down: queued it stays
		}
	}
	if imp.Status.Terminal() || s.d.Now().Sub(imp.CreatedAt) < StaleAfter {
		return
	}
	if err := s.fail(ctx, imp, staleReason, nil); err != nil {
		s.d.Log.WarnContext(ctx, "imports: record a stale import as failed", slog.String("import_id", imp.ID.String()), slog.Any("error", err))
	}
}

// List returns the user's imports newest first (accountID uuid.Nil: all
// accounts; another user's account is apperr.NotFound), limit 1 to 100
// (default 50), before the given instant.
func (s *Service) List(ctx context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]Import, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	if accountID != uuid.Nil {
		if err := s.ownAccounts(ctx, userID, []uuid.UUID{accountID}); err != nil {
			return nil, err
		}
	}
	list, err := s.d.Imports.List(ctx, userID, accountID, before, limit)
	if err != nil {
		return nil, err
	}
	for i := range list {
		s.settle(ctx, &list[i])
	}
	return list, nil
}

// Register registers the import job kind.
func (s *Service) Register(reg *jobs.Registry) {
	jobs.Handle(reg, KindRun, jobs.KindConfig{MaxRetries: 3, SoftTimeout: 10 * time.Minute}, func(ctx context.Context, _ *jobs.Job, p runPayload) (any, error) {
		return nil, s.Run(ctx, p.UserID, p.ImportID)
	})
	reg.Register(KindRequeue, jobs.KindConfig{MaxRetries: 1, Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
		n, err := s.RequeueQueued(ctx, s.d.Now().Add(-time.Minute))
		return map[string]int{"requeued": n}, err
	}})
}

// requeueBatch bounds the imports one RequeueQueued enqueues again.
const requeueBatch = 500

// RequeueQueued enqueues again the job of every import, any user's,
// still queued and created before the given instant (the oldest first,
// at most requeueBatch): an upload acknowledged while the job store was
// down runs once it is back even when nobody reads it. Enqueueing an
// import whose job is there is a no-op (its ID is the import's). It
// returns how many it enqueued, and the first error after trying each.
func (s *Service) RequeueQueued(ctx context.Context, before time.Time) (int, error) {
	list, err := s.d.Imports.Queued(ctx, before, requeueBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for i := range list {
		if err := s.enqueue(ctx, &list[i]); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		n++
	}
	return n, first
}

// progressEvery is how many rows pass between progress reports.
const progressEvery = 5000

// Run is the import job: it parses the stored file and commits the
// accepted fills with the import's result in one transaction. A retry
// (a worker killed mid-import) finds the import still running and starts
// over: nothing of the lost attempt was committed; a redelivery after the
// commit finds it terminal and does nothing.
func (s *Service) Run(ctx context.Context, userID, id uuid.UUID) error {
	imp, err := s.d.Imports.Get(ctx, userID, id)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return jobs.Permanent(err) // undone before it ran
		}
		return err
	}
	if imp.Status.Terminal() {
		return nil
	}
	imp.Status, imp.StartedAt, imp.Version = Running, s.d.Now().UTC(), imp.Version+1
	running := imp.Version // this attempt's mark: another attempt's moves it
	if err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Imports.Update(ctx, imp); err != nil {
			return err
		}
		uow.AfterCommit(ctx, func(ctx context.Context) { s.publish(ctx, realtime.ImportProgress(userID, s.d.Now(), id, 0, -1, 0)) })
		return nil
	}); err != nil {
		return err
	}
	loc, err := zone.Load(imp.Timezone)
	if err != nil {
		return s.fail(ctx, imp, "the import's time zone no longer loads", nil)
	}
	p, ok := Lookup(imp.Broker)
	if !ok {
		return s.fail(ctx, imp, "unknown preset "+imp.Broker, nil)
	}
	rc, _, err := s.d.Blobs.Open(ctx, imp.BlobKey)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return s.fail(ctx, imp, "the uploaded file is gone", nil)
		}
		return err
	}
	defer func() { _ = rc.Close() }()
	a, err := s.d.Trading.GetAccount(ctx, userID, imp.AccountID)
	if apperr.Is(err, apperr.NotFound) {
		return s.fail(ctx, imp, "the account is gone", nil)
	}
	if err != nil {
		return err
	}
	outer := ctx // progress is reported outside the transaction
	k := &streamSink{collector: &collector{maxWarn: s.cfg.MaxWarnings}, check: newChecker(a.Multipliers), strict: imp.Strict, checks: &pnlChecks{}}
	k.onRow = func(rows, rejected int) {
		if rows%progressEvery == 0 {
			// The event reports how far the file has been read (no
			// execution count): of the import whose running state
			// committed above, not of the transaction's writes.
			_ = jobs.Progress(outer, map[string]int{"rows": rows, "rejected": rejected})
			s.publish(outer, realtime.ImportProgress(userID, s.d.Now(), id, rows, -1, rejected))
		}
	}
	src := stopReader{r: rc, stop: func() bool { return k.err != nil }}
	o := trading.AddOptions{ImportID: imp.ID, SkipDuplicates: true, Lean: true, EachTrade: k.checks.add}
	var res *trading.RecordResult
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		var err error
		res, err = s.d.Trading.RecordExecutions(ctx, userID, imp.AccountID, o, func(ctx context.Context, record trading.RecordFunc) error {
			k.record = record
			if err := p.Parse(ctx, NewReader(src), Options{Location: loc, Mapping: imp.Mapping, Roots: a.Multipliers, Currency: a.Currency}, k); err != nil {
				return err
			}
			k.flush()
			if k.err != nil {
				return k.err
			}
			if k.strict && len(k.rejected) > 0 {
				return errStrict
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := s.noteZone(ctx, k.collector, userID, imp.AccountID, imp.ID, imp.Broker, loc); err != nil {
			return err
		}
		k.result(imp)
		imp.Counts.ExecutionsAdded, imp.Counts.Duplicates, imp.TradesRebuilt = res.Added, res.Duplicates, res.TradesTouched
		imp.Mismatches = k.checks.mismatches()
		imp.Status, imp.FinishedAt, imp.Version = Succeeded, s.d.Now().UTC(), imp.Version+1
		if err := s.d.Imports.Update(ctx, imp); err != nil {
			return err
		}
		uow.AfterCommit(ctx, func(ctx context.Context) {
			s.publish(ctx, realtime.ImportFinished(userID, s.d.Now(), id, string(Succeeded), imp.Counts.ExecutionsAdded, imp.TradesRebuilt, imp.Counts.Rejected))
		})
		return nil
	})
	if err == nil {
		return nil
	}
	var fe *FormatError
	switch {
	case errors.As(err, &fe):
		return s.fail(ctx, imp, fe.Error(), nil)
	case errors.Is(err, errStrict):
		k.result(imp)
		return s.fail(ctx, imp, fmt.Sprintf("strict import: %d rows were rejected, nothing was imported", len(imp.Rejected)), imp.Rejected)
	}
	if kind := apperr.KindOf(err); kind == apperr.Invalid || kind == apperr.Conflict || kind == apperr.NotFound {
		// The account was archived or deleted, or a rule refused the
		// batch: retrying cannot help.
		cur, gerr := s.d.Imports.Get(ctx, userID, id)
		if gerr != nil {
			return gerr
		}
		if cur.Version != running {
			// Another attempt marked the import since this one did (a
			// worker paused past its heartbeat was taken over): the
			// record is that attempt's, and this one's work rolled
			// back. Failing it would fail the attempt that owns it.
			s.d.Log.WarnContext(ctx, "imports: taken over by another attempt; this attempt's work rolled back",
				slog.String("import_id", id.String()), slog.Any("error", err))
			return nil
		}
		msg := "the executions could not be recorded"
		if e, ok := apperr.As(err); ok && e.Message != "" {
			msg += ": " + e.Message
			if len(e.Fields) > 0 { // the first bad field, such as a refused multiplier
				f := slices.Sorted(maps.Keys(e.Fields))[0]
				msg += fmt.Sprintf(" (%s: %s)", f, e.Fields[f])
			}
		}
		k.result(cur)
		return s.fail(ctx, cur, msg, cur.Rejected)
	}
	return err
}

// errStrict rolls back a strict import that rejected a row.
var errStrict = errors.New("imports: strict import with rejected rows")

// chunkRows is how many accepted fills the job records at a time.
const chunkRows = 5000

// pending is an accepted fill waiting for its chunk to be recorded (its
// raw text dropped: only rejected rows keep theirs).
type pending struct {
	line      int
	brokerPnL decimal.NullDecimal
	net       bool
}

// streamSink is the import job's Sink: it checks each fill as it is
// read, rejects the bad ones, and records the accepted ones chunkRows at a
// time through record, inside the import's transaction. It keeps the
// rejected rows, the warnings and the broker P&L checks, never the file's
// fills.
type streamSink struct {
	*collector
	check  *checker
	strict bool
	record trading.RecordFunc
	ins    []trading.ExecutionInput
	meta   []pending
	checks *pnlChecks
	err    error // the first error of record: nothing more is written
}

func (k *streamSink) Fill(f Fill) {
	k.sawZoned(&f)
	if reason := k.check.reason(&f.Input); reason != "" {
		k.Reject(RejectedRow{Line: f.Line, Raw: f.Raw, Reason: reason})
		return
	}
	if k.err == nil && (!k.strict || len(k.rejected) == 0) {
		// A strict import that rejected a row rolls back: nothing more is
		// written, but every rejected row is still listed.
		k.ins = append(k.ins, f.Input)
		k.meta = append(k.meta, pending{line: f.Line, brokerPnL: f.BrokerPnL, net: f.PnLNet})
		if len(k.ins) >= chunkRows {
			k.flush()
		}
	}
	k.tick(f.Line)
}

// flush records the pending fills.
func (k *streamSink) flush() {
	if len(k.ins) == 0 || k.err != nil || (k.strict && len(k.rejected) > 0) {
		return
	}
	ids, err := k.record(k.ins)
	if err != nil {
		k.err = err
		return
	}
	for i := range k.meta {
		if m := &k.meta[i]; m.brokerPnL.Valid && ids[i] != uuid.Nil {
			k.checks.expect(ids[i], m.line, m.brokerPnL.Decimal, m.net)
		}
	}
	clear(k.ins) // drop the strings of the recorded fills
	k.ins, k.meta = k.ins[:0], k.meta[:0]
}

// result writes what was read into imp: rows, rejected rows (in line
// order), warnings.
func (k *streamSink) result(imp *Import) {
	slices.SortStableFunc(k.rejected, func(a, b RejectedRow) int { return a.Line - b.Line })
	imp.Counts.Rows, imp.Counts.Rejected = k.rows(), len(k.rejected)
	imp.Rejected, imp.Warnings = k.rejected, k.allWarnings()
}

// fail ends an import as failed with nothing imported.
func (s *Service) fail(ctx context.Context, imp *Import, reason string, rejected []RejectedRow) error {
	imp.Status, imp.Error, imp.FinishedAt, imp.Version = Failed, reason, s.d.Now().UTC(), imp.Version+1
	imp.Rejected, imp.Mismatches = rejected, nil
	imp.Counts.ExecutionsAdded, imp.Counts.Duplicates, imp.TradesRebuilt = 0, 0, 0
	return s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Imports.Update(ctx, imp); err != nil {
			return err
		}
		uow.AfterCommit(ctx, func(ctx context.Context) {
			s.publish(ctx, realtime.ImportFinished(imp.UserID, s.d.Now(), imp.ID, string(Failed), 0, 0, len(rejected)))
		})
		return nil
	})
}

func (s *Service) publish(ctx context.Context, e realtime.Event) {
	if err := s.d.Events.Publish(ctx, e); err != nil {
		s.d.Log.WarnContext(ctx, "imports: publish event", slog.String("type", e.Type), slog.Any("error", err))
	}
}

// StaleAfter is how long an import may stay queued or running before
// Undo takes it anyway: its job has died (out of retries) without
// finishing, and nothing of it was committed.
const StaleAfter = time.Hour

// undoable is apperr.Conflict "import_in_progress" while imp is queued or
// running, for StaleAfter.
func (s *Service) undoable(imp *Import) error {
	if !imp.Status.Terminal() && s.d.Now().Sub(imp.CreatedAt) < StaleAfter {
		return apperr.New(apperr.Conflict, CodeImportBusy, "the import is "+string(imp.Status)+": undo it once it has finished")
	}
	return nil
}

// UndoResult is what undoing an import removed.
type UndoResult struct {
	ExecutionsRemoved int
	TradesRebuilt     int
}

// Undo removes exactly the executions the import added, rebuilds the
// trades they belonged to, and deletes the import and its file, in one
// transaction (the file after the commit). apperr.Conflict
// "import_in_progress" while it is queued or running, for StaleAfter.
func (s *Service) Undo(ctx context.Context, userID, id uuid.UUID) (*UndoResult, error) {
	// The state first, outside the transaction: a running import holds the
	// write lock (SQLite's, or its account's) until it commits, so a check
	// inside the transaction would wait for it and time out (db_busy)
	// instead of answering import_in_progress at once.
	imp, err := s.d.Imports.Get(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	if err := s.undoable(imp); err != nil {
		return nil, err
	}
	res := &UndoResult{}
	var key string
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		// Again in the transaction: the import may have changed (or been
		// undone) since.
		imp, err := s.d.Imports.Get(ctx, userID, id)
		if err != nil {
			return err
		}
		if err := s.undoable(imp); err != nil {
			return err
		}
		key = imp.BlobKey
		// One delete of the import's executions and one rebuild of each
		// position they were in: the cost is linear in their number.
		r, err := s.d.Trading.DeleteImportExecutions(ctx, userID, imp.AccountID, id)
		if err != nil {
			return err
		}
		res.ExecutionsRemoved, res.TradesRebuilt = r.Removed, r.TradesTouched
		if err := s.d.Imports.Delete(ctx, userID, id); err != nil {
			return err
		}
		uow.AfterCommit(ctx, func(ctx context.Context) {
			if err := s.d.Blobs.Delete(ctx, key); err != nil {
				s.d.Log.WarnContext(ctx, "imports: delete undone import's file", slog.String("key", key), slog.Any("error", err))
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
