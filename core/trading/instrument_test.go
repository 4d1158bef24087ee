package trading

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

var ref2026 = time.Date(2026, 5, 6, 14, 30, 0, 0, time.UTC)

func TestParseFuture(t *testing.T) {
	cases := []struct {
		in    string
		ref   time.Time
		root  string
		month time.Month
		year  int
		sym   string
	}{
		{"ESZ6", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"esz6", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"/ESZ26", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"ESZ2026", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"ES DEC26", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"ES DEC 2026", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"ES 12-26", ref2026, "ES", time.December, 2026, "ESZ26"},
		{"MESH7", ref2026, "MES", time.March, 2027, "MESH27"},
		{"ESH5", ref2026, "ES", time.March, 2025, "ESH25"}, // ref year − 1 still counts
		{"ESH4", ref2026, "ES", time.March, 2034, "ESH34"}, // then the next decade
		{"ESZ6", time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), "ES", time.December, 2026, "ESZ26"},
		{"6EM26", ref2026, "6E", time.June, 2026, "6EM26"},
		{"ZBU26", ref2026, "ZB", time.September, 2026, "ZBU26"},
		{"MNQZ6", ref2026, "MNQ", time.December, 2026, "MNQZ26"},
		{"GCQ6", ref2026, "GC", time.August, 2026, "GCQ26"},
		{"ES", ref2026, "ES", 0, 0, "ES"},
		// Outside 2000–2099 the year keeps four digits: ESZ26 is 2026.
		{"ESZ2126", ref2026, "ES", time.December, 2126, "ESZ2126"},
		{"ES DEC 1999", ref2026, "ES", time.December, 1999, "ESZ1999"},
		{"ESZ2099", ref2026, "ES", time.December, 2099, "ESZ99"},
	}
	for _, c := range cases {
		got, err := ParseFuture(c.in, c.ref)
		if err != nil || got.Root != c.root || got.Month != c.month || got.Year != c.year || got.Symbol() != c.sym {
			t.Errorf("ParseFuture(%q) = %+v %q, %v; want %s %v %d %s", c.in, got, got.Symbol(), err, c.root, c.month, c.year, c.sym)
		}
	}
	for _, in := range []string{"", "ESA6", "ES 13-26", "ES FOO26", "TOOLONGZ6", "E$Z6", "XYZ", "ESZ123"} {
		if _, err := ParseFuture(in, ref2026); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("ParseFuture(%q) = %v; want Invalid", in, err)
		}
	}
}

func TestParseOCC(t *testing.T) {
	cases := []struct {
		in    string
		under string
		exp   string
		right OptionRight
		k     string
		sym   string
	}{
		{"AAPL  261218C00150000", "AAPL", "2026-12-18", Call, "150", "AAPL261218C00150000"},
		{"AAPL261218C00150000", "AAPL", "2026-12-18", Call, "150", "AAPL261218C00150000"},
		{"SPXW  270115P05000500", "SPXW", "2027-01-15", Put, "5000.5", "SPXW270115P05000500"},
		{".spy261120p00400000", "SPY", "2026-11-20", Put, "400", "SPY261120P00400000"},
		{"F     261218C00012500", "F", "2026-12-18", Call, "12.5", "F261218C00012500"},
		{"BRKB1 261218C00000001", "BRKB1", "2026-12-18", Call, "0.001", "BRKB1261218C00000001"},
	}
	for _, c := range cases {
		got, err := ParseOCC(c.in)
		if err != nil || got.Underlying != c.under || got.Expiry.Format("2006-01-02") != c.exp || got.Right != c.right ||
			!got.Strike.Equal(decimal.RequireFromString(c.k)) || got.Symbol() != c.sym {
			t.Errorf("ParseOCC(%q) = %+v %q, %v", c.in, got, got.Symbol(), err)
		}
	}
	for _, in := range []string{"", "AAPL", "AAPL  261318C00150000", "AAPL  261218X00150000", "AAPL  2612a8C00150000",
		"TOOLONGX261218C00150000", "261218C00150000", "AA PL 261218C00150000", "AAPL  261218C0015000"} {
		if _, err := ParseOCC(in); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("ParseOCC(%q) = %v; want Invalid", in, err)
		}
	}
}

func TestResolveInstrument(t *testing.T) {
	d := decimal.RequireFromString
	cases := []struct {
		spec   InstrumentSpec
		sym    string
		mult   string
		tick   string
		ccy    string
		expiry string
	}{
		{InstrumentSpec{Symbol: " aapl ", AssetClass: Stock}, "AAPL", "1", "0", "", ""},
		{InstrumentSpec{Symbol: "ESZ6", AssetClass: Future}, "ESZ26", "50", "0.25", "USD", "2026-12-01"},
		{InstrumentSpec{Symbol: "/MESZ26", AssetClass: Future}, "MESZ26", "5", "0.25", "USD", "2026-12-01"},
		{InstrumentSpec{Symbol: "CL DEC26", AssetClass: Future}, "CLZ26", "1000", "0.01", "USD", "2026-12-01"},
		{InstrumentSpec{Symbol: "FDAXZ6", AssetClass: Future}, "FDAXZ26", "25", "0.5", "EUR", "2026-12-01"},
		{InstrumentSpec{Symbol: "XYZZ6", AssetClass: Future, Multiplier: d("10")}, "XYZZ26", "10", "0", "", "2026-12-01"},
		// A root outside the table takes the account's multiplier; a known
		// root keeps the table's (the account's override applies when the
		// fill is valued: EffectiveMultiplier).
		{InstrumentSpec{Symbol: "ZQZ6", AssetClass: Future, Roots: map[string]decimal.Decimal{"ZQ": d("4167")}}, "ZQZ26", "4167", "0", "", "2026-12-01"},
		{InstrumentSpec{Symbol: "ZQZ6", AssetClass: Future, Multiplier: d("10"), Roots: map[string]decimal.Decimal{"ZQ": d("4167")}}, "ZQZ26", "10", "0", "", "2026-12-01"},
		{InstrumentSpec{Symbol: "ESZ6", AssetClass: Future, Roots: map[string]decimal.Decimal{"ES": d("5")}}, "ESZ26", "50", "0.25", "USD", "2026-12-01"},
		{InstrumentSpec{Symbol: "AAPL  261218C00150000", AssetClass: Option}, "AAPL261218C00150000", "100", "0.01", "", "2026-12-18"},
		{InstrumentSpec{Symbol: "eurusd", AssetClass: Forex}, "EUR/USD", "1", "0", "USD", ""},
		{InstrumentSpec{Symbol: "BRK.B", AssetClass: Stock}, "BRK.B", "1", "0", "", ""},
	}
	for _, c := range cases {
		in, err := ResolveInstrument(c.spec, ref2026)
		exp := ""
		if !in.Expiry.IsZero() {
			exp = in.Expiry.Format("2006-01-02")
		}
		if err != nil || in.Symbol != c.sym || !in.Multiplier.Equal(d(c.mult)) || !in.TickSize.Equal(d(c.tick)) || in.Currency != c.ccy || exp != c.expiry {
			t.Errorf("ResolveInstrument(%+v) = %+v, %v", c.spec, in, err)
		}
	}
	for _, spec := range []InstrumentSpec{
		{Symbol: "XYZZ6", AssetClass: Future}, // unknown root, no multiplier
		{Symbol: "XYZZ6", AssetClass: Future, Roots: map[string]decimal.Decimal{"ZQ": decimal.NewFromInt(4167)}},
		{Symbol: "AAPL", AssetClass: Option},
		{Symbol: "", AssetClass: Stock},
		{Symbol: "AAPL", AssetClass: "bond"},
		{Symbol: "EURUS", AssetClass: Forex},
		{Symbol: "AAPL", AssetClass: Stock, Multiplier: d("-1")},
	} {
		if _, err := ResolveInstrument(spec, ref2026); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("ResolveInstrument(%+v) = %v; want Invalid", spec, err)
		}
	}
}

// FuzzParseFuture: no input panics, and what parses has a canonical symbol
// that parses back to the same contract.
func FuzzParseFuture(f *testing.F) {
	for _, s := range []string{"ESZ6", "/ESZ26", "ES DEC26", "ES 12-26", "6EH2027", "ES", "", "ZZZZZZ", "ESZ2126", "ES DEC 1999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseFuture(s, ref2026)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("error %v is not Invalid", err)
			}
			return
		}
		back, err := ParseFuture(c.Symbol(), ref2026)
		if err != nil || back != c {
			t.Fatalf("%q → %q → %+v, %v", s, c.Symbol(), back, err)
		}
	})
}

// FuzzParseOCC: no input panics, and what parses round-trips through its
// canonical symbol.
func FuzzParseOCC(f *testing.F) {
	for _, s := range []string{"AAPL  261218C00150000", "SPXW270115P05000500", ".SPY261120P00400000", "", "X999999C99999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOCC(s)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("error %v is not Invalid", err)
			}
			return
		}
		back, err := ParseOCC(o.Symbol())
		if err != nil || back.Symbol() != o.Symbol() || !back.Strike.Equal(o.Strike) || !back.Expiry.Equal(o.Expiry) {
			t.Fatalf("%q → %q → %+v, %v", s, o.Symbol(), back, err)
		}
	})
}

// FuzzResolveInstrument: no symbol of any class panics or yields an empty
// or non-positive contract.
func FuzzResolveInstrument(f *testing.F) {
	f.Add("ESZ6", 3)
	f.Add("AAPL  261218C00150000", 2)
	f.Add("eur/usd", 4)
	f.Fuzz(func(t *testing.T, s string, class int) {
		ac := AssetClasses[(class%len(AssetClasses)+len(AssetClasses))%len(AssetClasses)]
		in, err := ResolveInstrument(InstrumentSpec{Symbol: s, AssetClass: ac}, ref2026)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("error %v is not Invalid", err)
			}
			return
		}
		if in.Symbol == "" || !in.Multiplier.IsPositive() || len(in.Symbol) > 32 {
			t.Fatalf("ResolveInstrument(%q, %s) = %+v", s, ac, in)
		}
	})
}

// TestInferAssetClass: a symbol given without its class is an option when
// it is an OCC symbol, a future when it is a dated contract of a known
// root, else a stock; ResolveInstrument applies it.
func TestInferAssetClass(t *testing.T) {
	for s, want := range map[string]AssetClass{
		"AAPL261218C00150000": Option, "SPXW  261218P05000000": Option, "ESZ6": Future, "/ESZ26": Future, "ES DEC26": Future,
		"MNQM6": Future, "ES": Stock, "AAPL": Stock, "BRK B": Stock, "XYZZ6": Stock, "EUR/USD": Stock, "": Stock,
	} {
		if got := InferAssetClass(s, ref2026); got != want {
			t.Errorf("InferAssetClass(%q) = %s, want %s", s, got, want)
		}
	}
	in, err := ResolveInstrument(InstrumentSpec{Symbol: "ESZ6"}, ref2026)
	if err != nil || in.AssetClass != Future || in.Symbol != "ESZ26" || !in.Multiplier.Equal(decimal.NewFromInt(50)) {
		t.Fatalf("ESZ6 without a class: %+v, %v", in, err)
	}
	in, err = ResolveInstrument(InstrumentSpec{Symbol: "msft"}, ref2026)
	if err != nil || in.AssetClass != Stock || in.Symbol != "MSFT" || !in.Multiplier.Equal(decimal.NewFromInt(1)) {
		t.Fatalf("msft without a class: %+v, %v", in, err)
	}
}

// FuzzInferAssetClass: no input panics, the class is one of the three it
// infers, and a symbol resolves under its inferred class as it does given
// that class outright.
func FuzzInferAssetClass(f *testing.F) {
	for _, s := range []string{"ESZ6", "AAPL261218C00150000", "ES", "AAPL", "", "/MNQH27", "6EH2027"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := InferAssetClass(s, ref2026)
		if c != Stock && c != Future && c != Option {
			t.Fatalf("InferAssetClass(%q) = %q", s, c)
		}
		got, err1 := ResolveInstrument(InstrumentSpec{Symbol: s}, ref2026)
		want, err2 := ResolveInstrument(InstrumentSpec{Symbol: s, AssetClass: c}, ref2026)
		if (err1 == nil) != (err2 == nil) || got.Symbol != want.Symbol || got.AssetClass != want.AssetClass {
			t.Fatalf("%q: inferred %+v (%v), given %s %+v (%v)", s, got, err1, c, want, err2)
		}
	})
}

// TestFilterFindsTheBrokersSymbol: a filter's futures, option and
// currency-pair symbols written as brokers print them also select the
// canonical form the instruments are stored under; the symbol as given
// stays (GOOGLE is six letters, not two currencies).
func TestFilterFindsTheBrokersSymbol(t *testing.T) {
	f := Filter{Symbols: []string{"mnqm6", "/ESZ26", "ES DEC26", "AAPL  261218C00150000", "MSFT", "ES", "eurusd", "GBP.JPY", "EUR/USD", "GOOGLE"}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	mnq, _ := ParseFuture("MNQM6", time.Now()) // the one-digit year is read against today, as a trade's against its date
	want := []string{"MNQM6", "/ESZ26", "ES DEC26", "AAPL 261218C00150000", "MSFT", "ES", "EURUSD", "GBP.JPY", "EUR/USD", "GOOGLE",
		mnq.Symbol(), "ESZ26", "AAPL261218C00150000", "GBP/JPY"}
	if !slices.Equal(f.Symbols, want) {
		t.Fatalf("symbols %q, want %q", f.Symbols, want)
	}
	many := Filter{Symbols: make([]string, maxValues)}
	for i := range many.Symbols {
		many.Symbols[i] = fmt.Sprintf("ES%c%d", "FGHJKMNQUVXZ"[i%12], i%10)
	}
	if err := many.Validate(); err != nil || len(many.Symbols) <= maxValues {
		t.Fatalf("%d futures symbols: %v, %d after", maxValues, err, len(many.Symbols))
	}
}

// TestAccountCurrencyIsISO4217: three upper-case letters are not enough;
// the code must be a currency (a typo would be a currency of its own in
// every figure).
func TestAccountCurrencyIsISO4217(t *testing.T) {
	for code, ok := range map[string]bool{"USD": true, "eur": true, " CHF ": true, "JPY": true, "XAU": true,
		"UTC": false, "ZZZ": false, "QQQ": false, "XXX": false, "XTS": false, "USDT": false, "": false, "US": false} {
		err := validateAccount(&Account{Name: "A", Currency: code})
		if (err == nil) != ok {
			t.Errorf("currency %q: %v, want valid %v", code, err, ok)
		}
	}
}
