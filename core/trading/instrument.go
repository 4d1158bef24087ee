package trading

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

// FutureSpec is the contract a futures root names.
type FutureSpec struct {
	Multiplier decimal.Decimal // currency per point
	TickSize   decimal.Decimal
	Currency   string
}

func fut(mult, tick, ccy string) FutureSpec {
	return FutureSpec{Multiplier: decimal.RequireFromString(mult), TickSize: decimal.RequireFromString(tick), Currency: ccy}
}

// futureSpecs is the built-in table of futures contracts by root (CME
// Group, Cboe and Eurex specifications). An account overrides a multiplier
// with Account.Multipliers.
var futureSpecs = map[string]FutureSpec{
	// Equity indices
	"ES": fut("50", "0.25", "USD"), "MES": fut("5", "0.25", "USD"),
	"NQ": fut("20", "0.25", "USD"), "MNQ": fut("2", "0.25", "USD"),
	"YM": fut("5", "1", "USD"), "MYM": fut("0.5", "1", "USD"),
	"RTY": fut("50", "0.1", "USD"), "M2K": fut("5", "0.1", "USD"),
	"EMD": fut("100", "0.1", "USD"), "NKD": fut("5", "5", "USD"),
	"VX": fut("1000", "0.05", "USD"), "VXM": fut("100", "0.05", "USD"),
	"FDAX": fut("25", "0.5", "EUR"), "FDXM": fut("5", "1", "EUR"), "FESX": fut("10", "1", "EUR"),
	// Energy
	"CL": fut("1000", "0.01", "USD"), "MCL": fut("100", "0.01", "USD"), "QM": fut("500", "0.025", "USD"),
	"NG": fut("10000", "0.001", "USD"), "QG": fut("2500", "0.005", "USD"),
	"RB": fut("42000", "0.0001", "USD"), "HO": fut("42000", "0.0001", "USD"),
	// Metals
	"GC": fut("100", "0.1", "USD"), "MGC": fut("10", "0.1", "USD"),
	"SI": fut("5000", "0.005", "USD"), "SIL": fut("1000", "0.005", "USD"),
	"HG": fut("25000", "0.0005", "USD"), "MHG": fut("2500", "0.0005", "USD"),
	"PL": fut("50", "0.1", "USD"), "PA": fut("100", "0.5", "USD"),
	// Currencies
	"6E": fut("125000", "0.00005", "USD"), "M6E": fut("12500", "0.0001", "USD"),
	"6J": fut("12500000", "0.0000005", "USD"), "6B": fut("62500", "0.0001", "USD"),
	"6A": fut("100000", "0.00005", "USD"), "6C": fut("100000", "0.00005", "USD"),
	"6S": fut("125000", "0.00005", "USD"), "6N": fut("100000", "0.00005", "USD"),
	"6M": fut("500000", "0.00001", "USD"),
	// Interest rates (ticks: 1/32, 1/64, 1/128, 1/256 of a point)
	"ZB": fut("1000", "0.03125", "USD"), "UB": fut("1000", "0.03125", "USD"),
	"ZN": fut("1000", "0.015625", "USD"), "TN": fut("1000", "0.015625", "USD"),
	"ZF": fut("1000", "0.0078125", "USD"), "ZT": fut("2000", "0.00390625", "USD"),
	"SR3": fut("2500", "0.0025", "USD"),
	// Agriculture (cents per bushel; the multiplier is dollars per cent)
	"ZC": fut("50", "0.25", "USD"), "ZS": fut("50", "0.25", "USD"), "ZW": fut("50", "0.25", "USD"),
	"ZM": fut("100", "0.1", "USD"), "ZL": fut("600", "0.01", "USD"),
	"LE": fut("400", "0.025", "USD"), "HE": fut("400", "0.025", "USD"), "GF": fut("500", "0.025", "USD"),
	// Crypto
	"BTC": fut("5", "5", "USD"), "MBT": fut("0.1", "5", "USD"),
	"ETH": fut("50", "0.5", "USD"), "MET": fut("0.1", "0.5", "USD"),
}

// LookupFuture returns the built-in contract of a futures root.
func LookupFuture(root string) (FutureSpec, bool) {
	s, ok := futureSpecs[strings.ToUpper(root)]
	return s, ok
}

// OptionMultiplier is the contract size of equity and index options.
var OptionMultiplier = decimal.NewFromInt(100)

var monthCodes = "FGHJKMNQUVXZ" // January .. December

var monthNames = map[string]time.Month{
	"JAN": time.January, "FEB": time.February, "MAR": time.March, "APR": time.April, "MAY": time.May, "JUN": time.June,
	"JUL": time.July, "AUG": time.August, "SEP": time.September, "OCT": time.October, "NOV": time.November, "DEC": time.December,
}

var (
	// ESZ6, ESZ26, ESZ2026, 6EH27 (an optional leading "/" is removed first).
	reFutureCode = regexp.MustCompile(`^([A-Z0-9]{1,4}?)([FGHJKMNQUVXZ])([0-9]{1,2}|[0-9]{4})$`)
	// ES DEC26, ES DEC 26, ES DEC2026.
	reFutureName = regexp.MustCompile(`^([A-Z0-9]{1,4}) +(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC) *([0-9]{2}|[0-9]{4})$`)
	// ES 12-26 (NinjaTrader).
	reFutureNum = regexp.MustCompile(`^([A-Z0-9]{1,4}) +([0-9]{2})-([0-9]{2})$`)
	reRoot      = regexp.MustCompile(`^[A-Z0-9]{1,4}$`)
	reTicker    = regexp.MustCompile(`^[A-Z0-9][A-Z0-9.\-:/ ]{0,23}$`)
	reForex     = regexp.MustCompile(`^([A-Z]{3})[/.\-_ ]?([A-Z]{3})$`)
)

// FutureContract is a parsed futures symbol. Month and Year are zero for a
// bare root ("ES", a continuous contract).
type FutureContract struct {
	Root  string
	Month time.Month
	Year  int
}

// Symbol is the canonical form: root, month code and two-digit year
// ("ESZ26") for a year of 2000–2099, four digits for another (a two-digit
// year reads as 20yy: ESZ2126 is not ESZ26), or the bare root.
func (c FutureContract) Symbol() string {
	if c.Month == 0 {
		return c.Root
	}
	if c.Year < 2000 || c.Year > 2099 {
		return fmt.Sprintf("%s%c%04d", c.Root, monthCodes[c.Month-1], c.Year)
	}
	return fmt.Sprintf("%s%c%02d", c.Root, monthCodes[c.Month-1], c.Year%100)
}

// ParseFuture parses a futures symbol: month-code forms (`ESZ6`, `ESZ26`,
// `/ESZ26`, `ESZ2026`), month-name forms (`ES DEC26`, `ES DEC 2026`), the
// NinjaTrader form (`ES 12-26`), or a bare known root (`ES`). A one-digit
// year is the first year from ref's year − 1 on that ends in that digit
// (a contract is not traded long after it expired); two digits are 20yy.
func ParseFuture(s string, ref time.Time) (FutureContract, error) {
	u := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "/")
	bad := func() (FutureContract, error) {
		return FutureContract{}, apperr.Validation("not a futures symbol", map[string]string{"symbol": fmt.Sprintf("%.40q is not a futures symbol such as ESZ6, ES DEC26 or /ESZ26", s)})
	}
	var root, yy string
	var month time.Month
	if m := reFutureCode.FindStringSubmatch(u); m != nil {
		root, yy = m[1], m[3]
		month = time.Month(strings.IndexByte(monthCodes, m[2][0]) + 1)
	} else if m := reFutureName.FindStringSubmatch(u); m != nil {
		root, yy, month = m[1], m[3], monthNames[m[2]]
	} else if m := reFutureNum.FindStringSubmatch(u); m != nil {
		n, _ := strconv.Atoi(m[2])
		if n < 1 || n > 12 {
			return bad()
		}
		root, yy, month = m[1], m[3], time.Month(n)
	} else if reRoot.MatchString(u) {
		if _, ok := futureSpecs[u]; !ok {
			return bad()
		}
		return FutureContract{Root: u}, nil
	} else {
		return bad()
	}
	n, _ := strconv.Atoi(yy)
	year := 0
	switch len(yy) {
	case 1:
		base := ref.UTC().Year() - 1
		year = base + ((n-base%10)%10+10)%10
	case 2:
		year = 2000 + n
	default:
		year = n
	}
	if year < 1970 || year > 2199 {
		return bad()
	}
	return FutureContract{Root: root, Month: month, Year: year}, nil
}

// OptionContract is a parsed OCC option symbol.
type OptionContract struct {
	Underlying string
	Expiry     time.Time // UTC midnight of the expiration date
	Right      OptionRight
	Strike     decimal.Decimal
}

// Symbol is the canonical OCC form without padding:
// underlying, YYMMDD, C or P, strike × 1000 in eight digits
// ("AAPL261218C00150000").
func (o OptionContract) Symbol() string {
	r := byte('C')
	if o.Right == Put {
		r = 'P'
	}
	k := o.Strike.Shift(3).IntPart()
	return fmt.Sprintf("%s%s%c%08d", o.Underlying, o.Expiry.Format("060102"), r, k)
}

// ParseOCC parses an OCC option symbol (OSI): an underlying of 1 to 6
// characters (space padded to six in the strict form, unpadded accepted),
// the expiration as YYMMDD, C or P, and the strike × 1000 in eight digits:
// `AAPL  261218C00150000`, `SPXW261218P05000000`. A leading "." or "-" as
// some brokers write it is ignored.
func ParseOCC(s string) (OptionContract, error) {
	bad := func(why string) (OptionContract, error) {
		return OptionContract{}, apperr.Validation("not an OCC option symbol", map[string]string{"symbol": fmt.Sprintf("%.40q is not an OCC option symbol such as AAPL261218C00150000: %s", s, why)})
	}
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimLeft(u, ".-")
	if len(u) < 16 || len(u) > 21+4 {
		return bad("wrong length")
	}
	tail := u[len(u)-15:]
	root := strings.TrimRight(u[:len(u)-15], " ")
	if root == "" || len(root) > 6 || strings.ContainsAny(root, " ") {
		return bad("the underlying must be 1 to 6 characters")
	}
	for _, r := range root {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return bad("the underlying must be letters and digits")
		}
	}
	for i, c := range []byte(tail) {
		if i == 6 {
			continue
		}
		if c < '0' || c > '9' {
			return bad("expiry and strike must be digits")
		}
	}
	exp, err := time.Parse("060102", tail[:6])
	if err != nil {
		return bad("the expiry is not a date")
	}
	var right OptionRight
	switch tail[6] {
	case 'C':
		right = Call
	case 'P':
		right = Put
	default:
		return bad("the right must be C or P")
	}
	k, _ := strconv.ParseInt(tail[7:], 10, 64)
	return OptionContract{Underlying: root, Expiry: exp.UTC(), Right: right, Strike: decimal.New(k, -3)}, nil
}

// InstrumentSpec is what a caller knows about an instrument: a symbol and
// its asset class, and optionally the contract terms (zero values: use the
// built-in ones).
type InstrumentSpec struct {
	Symbol     string
	AssetClass AssetClass
	Currency   string
	Multiplier decimal.Decimal
	TickSize   decimal.Decimal
	// Roots are the account's multipliers by root (Account.Multipliers):
	// a future of a root outside the built-in table given without a
	// multiplier takes its root's from there.
	Roots map[string]decimal.Decimal
}

// InferAssetClass is the asset class of a symbol given without one: an
// option for an OCC option symbol, a future for a dated contract of a root
// in the built-in table (ESZ6, ES DEC26, /ESZ26; a bare root such as "ES"
// is also a stock ticker and stays one), else a stock. A future or an
// option taken for a stock would have its P&L off by the multiplier, so
// those two are recognised; forex, crypto and CFD symbols are named.
func InferAssetClass(symbol string, ref time.Time) AssetClass {
	return InferAssetClassIn(symbol, ref, nil)
}

// InferAssetClassIn is InferAssetClass in an account whose multipliers
// are roots (Account.Multipliers): a dated contract of a root it names
// (ZQZ6 where ZQ has a multiplier) is a future too.
func InferAssetClassIn(symbol string, ref time.Time, roots map[string]decimal.Decimal) AssetClass {
	if class, _, ok := datedDerivative(symbol, ref); ok {
		return class
	}
	if len(roots) > 0 {
		if c, err := ParseFuture(symbol, ref); err == nil && c.Month != 0 {
			if _, ok := rootMultiplier(roots, c.Root); ok {
				return Future
			}
		}
	}
	return Stock
}

// datedDerivative is the class and canonical symbol of an OCC option
// symbol or of a dated contract of a futures root in the built-in table;
// ok is false for anything else (a bare root such as "ES" included). ref
// dates a one-digit futures year.
func datedDerivative(symbol string, ref time.Time) (class AssetClass, canonical string, ok bool) {
	if o, err := ParseOCC(symbol); err == nil {
		return Option, o.Symbol(), true
	}
	if c, err := ParseFuture(symbol, ref); err == nil && c.Month != 0 {
		if _, known := futureSpecs[c.Root]; known {
			return Future, c.Symbol(), true
		}
	}
	return "", "", false
}

// rootMultiplier is an account's multiplier for root among roots
// (Account.Multipliers), when it sets a positive one.
func rootMultiplier(roots map[string]decimal.Decimal, root string) (decimal.Decimal, bool) {
	m, ok := roots[root]
	return m, ok && m.IsPositive()
}

// ResolveInstrument parses spec into an Instrument with a canonical symbol,
// the root, expiry, strike and right the symbol encodes, and the built-in
// multiplier and tick size where spec leaves them zero. ref is the instant
// the symbol was traded at (one-digit futures years). Fails with
// apperr.Invalid ("symbol_invalid") when the symbol does not parse for its
// class, or a future's root is neither in the built-in table nor in
// spec.Roots and spec gives no multiplier, and with apperr.Invalid naming
// the currency when spec gives one that is not of ISO 4217.
func ResolveInstrument(spec InstrumentSpec, ref time.Time) (Instrument, error) {
	invalid := func(msg string) error {
		e := apperr.Validation(msg, map[string]string{"symbol": msg})
		e.Code = CodeSymbolInvalid
		return e
	}
	if spec.AssetClass == "" {
		spec.AssetClass = InferAssetClassIn(spec.Symbol, ref, spec.Roots)
	}
	if !spec.AssetClass.Valid() {
		e := apperr.Validation("unknown asset class", map[string]string{"asset_class": "must be one of stock, etf, option, future, forex, crypto, cfd"})
		return Instrument{}, e
	}
	if spec.Multiplier.IsNegative() || spec.TickSize.IsNegative() {
		return Instrument{}, apperr.Validation("negative contract terms", map[string]string{"multiplier": "must not be negative"})
	}
	in := Instrument{AssetClass: spec.AssetClass, Currency: normCurrency(spec.Currency), Multiplier: spec.Multiplier, TickSize: spec.TickSize}
	if in.Currency != "" && !isoCurrency(in.Currency) {
		return Instrument{}, apperr.Validation("not an ISO 4217 currency", map[string]string{"currency": "must be an ISO 4217 code such as USD"})
	}
	u := strings.Join(strings.Fields(strings.ToUpper(spec.Symbol)), " ")
	switch spec.AssetClass {
	case Option:
		o, err := ParseOCC(spec.Symbol)
		if err != nil {
			return Instrument{}, invalid("not an OCC option symbol (for example AAPL261218C00150000)")
		}
		in.Symbol, in.Root, in.Expiry, in.Right = o.Symbol(), o.Underlying, o.Expiry, o.Right
		in.Strike = decimal.NewNullDecimal(o.Strike)
		if in.Multiplier.IsZero() {
			in.Multiplier = OptionMultiplier
		}
		if in.TickSize.IsZero() {
			in.TickSize = decimal.New(1, -2)
		}
	case Future:
		c, err := ParseFuture(spec.Symbol, ref)
		if err != nil {
			return Instrument{}, invalid("not a futures symbol (for example ESZ6, ES DEC26 or /ESZ26)")
		}
		in.Symbol, in.Root = c.Symbol(), c.Root
		if c.Month != 0 {
			in.Expiry = time.Date(c.Year, c.Month, 1, 0, 0, 0, 0, time.UTC)
		}
		fs, known := futureSpecs[c.Root]
		if in.Multiplier.IsZero() {
			m, own := rootMultiplier(spec.Roots, c.Root)
			switch {
			case known:
				in.Multiplier = fs.Multiplier
			case own:
				in.Multiplier = m
			default:
				return Instrument{}, invalid(fmt.Sprintf("unknown futures root %q: give its multiplier, or set it for the account", c.Root))
			}
		}
		if in.TickSize.IsZero() && known {
			in.TickSize = fs.TickSize
		}
		if in.Currency == "" && known {
			in.Currency = fs.Currency
		}
	case Forex:
		m := reForex.FindStringSubmatch(u)
		if m == nil {
			return Instrument{}, invalid("not a currency pair (for example EUR/USD)")
		}
		in.Symbol, in.Root = m[1]+"/"+m[2], m[1]
		if in.Currency == "" {
			in.Currency = m[2]
		}
	default:
		if !reTicker.MatchString(u) {
			return Instrument{}, invalid("a symbol is 1 to 24 letters, digits and . - : / characters")
		}
		in.Symbol, in.Root = u, u
	}
	if in.Multiplier.IsZero() {
		in.Multiplier = decimal.NewFromInt(1)
	}
	return in, nil
}
