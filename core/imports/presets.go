package imports

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// Presets returns every preset's parser, in detection order (the most
// specific signatures first, generic last).
func Presets() []Parser {
	return []Parser{ibkrFlex(), ibkrActivity(), tradovate(), ninjaTrader(), thinkorswim(), schwab(), robinhood(), webull(), tradeZero(), mt5(), Generic()}
}

// PresetIDs lists the preset IDs.
func PresetIDs() []string {
	var out []string
	for _, p := range Presets() {
		out = append(out, p.ID())
	}
	return out
}

// Lookup returns the parser of a preset ID.
func Lookup(id string) (Parser, bool) {
	for _, p := range Presets() {
		if p.ID() == id {
			return p, true
		}
	}
	return nil, false
}

// Detect returns the first preset whose signature the opening records
// have.
func Detect(head []*Record) (Parser, bool) {
	for _, p := range Presets() {
		if p.Detect(head) {
			return p, true
		}
	}
	return nil, false
}

func fill(in trading.ExecutionInput) Fill { return Fill{Input: in} }

func firstField(head []*Record, prefix string) bool {
	for _, r := range head {
		if r.Blank() {
			continue
		}
		return len(r.Fields) > 0 && strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(r.Fields[0], "\ufeff")), prefix)
	}
	return false
}

// ---- Interactive Brokers Flex Query (Trades, CSV) ----

var ibkrClasses = map[string]trading.AssetClass{"STK": trading.Stock, "OPT": trading.Option, "FUT": trading.Future, "CASH": trading.Forex,
	"CRYPTO": trading.Crypto, "CFD": trading.CFD, "FOP": trading.Option, "WAR": trading.Stock, "BOND": trading.Stock}

func ibkrFlex() *spec {
	sig := []string{"quantity", "tradeprice"}
	aliases := map[string][]string{
		fSymbol: {"symbol"}, fAssetClass: {"assetclass", "asset class"}, fSide: {"buy/sell"}, fQuantity: {"quantity"},
		fPrice: {"tradeprice", "price"}, fCommission: {"ibcommission", "commission"}, fFees: {"taxes"}, fCurrency: {"currencyprimary", "currency"},
		fMultiplier: {"multiplier"}, fExecutedAt: {"datetime", "date/time"}, fDate: {"tradedate"}, fTime: {"tradetime"},
		fExecID: {"ibexecid", "tradeid", "transactionid"}, fPnL: {"fifopnlrealized"}, fDetail: {"levelofdetail"},
	}
	return &spec{id: PresetIBKRFlex, name: "Interactive Brokers Flex Query",
		detect: func(head []*Record) bool { return firstField(head, "BOF") },
		frame:  func(skip func(int, string)) framer { return flexFrame(sig, skip) },
		variants: []variant{{name: "trades", signature: sig, aliases: aliases,
			required: []string{fSymbol, fQuantity, fPrice, fExecutedAt + "|" + fDate},
			row: func(b *binding) ([]Fill, string, error) {
				if d := strings.ToUpper(b.get(fDetail)); d != "" && d != "EXECUTION" {
					return nil, "a summary row (LevelOfDetail " + d + ")", nil
				}
				class := trading.Stock
				if c := strings.ToUpper(b.get(fAssetClass)); c != "" {
					k, ok := ibkrClasses[c]
					if !ok {
						return nil, "", fmt.Errorf("asset class %.20q is not supported", c)
					}
					class = k
				}
				r := rowReader{b: b}
				side, q, price := r.trade()
				comm := r.opt(fCommission)
				fees := r.opt(fFees)
				mult := r.opt(fMultiplier)
				at := r.executedAt()
				p, hasPnL := r.pnl(b.label(fPnL))
				if r.err != nil {
					return nil, "", r.err
				}
				sym := b.get(fSymbol)
				if class == trading.Option {
					sym = strings.ReplaceAll(sym, " ", "")
				}
				f := fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Multiplier: mult, Currency: b.get(fCurrency), Side: side, Quantity: q,
					Price: price, Commission: comm.Neg(), Fees: fees.Abs(), ExecutedAt: at, BrokerExecutionID: b.get(fExecID)})
				if class == trading.Forex || class == trading.Stock || class == trading.Crypto {
					f.Input.Multiplier = decimal.Zero
				}
				ibkrPnL(&f, p, hasPnL)
				return []Fill{f}, "", nil
			}}},
	}
}

// flexTradesCode is the section code of a Flex Query's Trades section.
const flexTradesCode = "TRNT"

// flexFrame frames a Flex Query. With section markers (BOS, HEADER, DATA,
// EOS) a query that holds several sections (Cash Transactions, Open
// Positions, Option Exercises …) is read for its Trades section alone,
// the section coded TRNT or that its BOS row names "Trades": the HEADER of
// another section binds nothing (an Option Exercises header without a
// DateTime must not fail the file, nor rebind the columns of the Trades
// rows after it), and the DATA rows of another section are skipped with
// its code and name, so each such section is one warning with its row
// count (Sink.Skip), rather than fills. A file without markers is framed
// as plainFrame frames it. Only the open section's code and name are
// kept: memory does not grow with the file.
func flexFrame(sig []string, skip func(line int, reason string)) framer {
	var bosCode, bosName string // the open section (BOS … EOS)
	section := ""               // the code of the bound Trades header
	plain := plainFrame([][]string{sig}, false)
	return func(rec *Record, haveHeader bool) (frameKind, []string) {
		if len(rec.Fields) == 0 {
			return frameSkip, nil
		}
		code := ""
		if len(rec.Fields) > 1 {
			code = strings.ToUpper(strings.TrimSpace(rec.Fields[1]))
		}
		switch strings.ToUpper(strings.TrimSpace(rec.Fields[0])) {
		case "BOS":
			bosCode, bosName = code, ""
			if len(rec.Fields) > 2 {
				bosName = strings.TrimSpace(rec.Fields[2])
			}
			return frameSkip, nil
		case "EOS":
			bosCode, bosName = "", ""
			return frameSkip, nil
		case "BOF", "BOA", "EOA", "EOF":
			return frameSkip, nil
		case "HEADER":
			if len(rec.Fields) < 3 || !flexTrades(code, bosCode, bosName) {
				return frameSkip, nil
			}
			section = code
			return frameHeader, rec.Fields[2:]
		case "DATA":
			if len(rec.Fields) < 3 {
				return frameSkip, nil
			}
			if code == section && section != "" {
				return frameData, rec.Fields[2:]
			}
			if !flexTrades(code, bosCode, bosName) {
				name := ""
				if code == bosCode {
					name = bosName
				}
				skip(rec.Line, flexSkipped(code, name))
			}
			return frameSkip, nil
		}
		return plain(rec, haveHeader)
	}
}

// flexTrades reports whether the section coded code is the Trades
// section: its code is TRNT, or it is the open section and its BOS row
// names it Trades ("Trades", "Trades; trade confirmations").
func flexTrades(code, bosCode, bosName string) bool {
	if code == flexTradesCode {
		return true
	}
	if code != bosCode {
		return false
	}
	name, _, _ := strings.Cut(bosName, ";")
	return norm(name) == "trades"
}

// flexSkipped is the skip reason of a DATA row of another section than
// Trades: its code and, when its BOS row gave one, its name (both cut
// short, as they are the file's text).
func flexSkipped(code, name string) string {
	if name == "" {
		return fmt.Sprintf("the section of code %.20q: only the Trades section (%s) is imported", code, flexTradesCode)
	}
	return fmt.Sprintf("the section %.60q (code %.20q): only the Trades section (%s) is imported", name, code, flexTradesCode)
}

// ---- Interactive Brokers Activity Statement (CSV) ----

var ibkrCategories = map[string]trading.AssetClass{"stocks": trading.Stock, "equity and index options": trading.Option, "options": trading.Option,
	"futures": trading.Future, "forex": trading.Forex, "crypto": trading.Crypto, "cfds": trading.CFD, "etfs": trading.ETF}

func ibkrActivity() *spec {
	sig := []string{"datadiscriminator", "symbol", "quantity"}
	return &spec{id: PresetIBKRActivity, name: "Interactive Brokers Activity Statement",
		detect: func(head []*Record) bool {
			return firstField(head, "Statement") && len(head[0].Fields) > 1 && strings.TrimSpace(head[0].Fields[1]) == "Header"
		},
		frame: func(func(int, string)) framer {
			return func(rec *Record, _ bool) (frameKind, []string) {
				if len(rec.Fields) < 3 || strings.TrimSpace(strings.TrimPrefix(rec.Fields[0], "\ufeff")) != "Trades" {
					return frameSkip, nil
				}
				switch strings.TrimSpace(rec.Fields[1]) {
				case "Header":
					return frameHeader, rec.Fields[2:]
				case "Data":
					return frameData, rec.Fields[2:]
				}
				return frameSkip, nil // SubTotal, Total, Notes
			}
		},
		variants: []variant{{name: "trades", signature: sig,
			aliases: map[string][]string{fAssetClass: {"asset category"}, fCurrency: {"currency"}, fSymbol: {"symbol"}, fExecutedAt: {"date/time"},
				fQuantity: {"quantity"}, fPrice: {"t. price", "trade price"}, fCommission: {"comm/fee", "comm in usd", "comm/tax"}, fPnL: {"realized p/l", "realized p&l"},
				fStatus: {"datadiscriminator"}},
			required: []string{fSymbol, fQuantity, fPrice, fExecutedAt},
			row: func(b *binding) ([]Fill, string, error) {
				if d := b.get(fStatus); d != "Order" && d != "Trade" && d != "Execution" {
					return nil, "a " + strings.ToLower(d) + " row", nil
				}
				cat := norm(b.get(fAssetClass))
				class, ok := ibkrCategories[cat]
				if !ok {
					return nil, "", fmt.Errorf("asset category %.30q is not supported", b.get(fAssetClass))
				}
				r := rowReader{b: b}
				side, q, price := r.trade()
				comm := r.opt(fCommission)
				at := r.executedAt()
				p, hasPnL := r.pnl(b.label(fPnL))
				if r.err != nil {
					return nil, "", r.err
				}
				sym := b.get(fSymbol)
				if class == trading.Option {
					sym = ibkrOptionSymbol(sym)
				}
				f := fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Currency: b.get(fCurrency), Side: side, Quantity: q, Price: price,
					Commission: comm.Neg(), ExecutedAt: at})
				ibkrPnL(&f, p, hasPnL)
				return []Fill{f}, "", nil
			}}},
	}
}

// ibkrPnL sets a statement's realized P&L on f, net of commission, when
// there is one and it is not zero.
func ibkrPnL(f *Fill, p decimal.Decimal, has bool) {
	if has && !p.IsZero() {
		f.BrokerPnL, f.PnLNet = decimal.NewNullDecimal(p), true
	}
}

// reIBKROption is the activity statement's option symbol: "AAPL 19JUN26
// 150 C".
var reIBKROption = regexp.MustCompile(`^([A-Z.]{1,6}) ([0-9]{2})([A-Z]{3})([0-9]{2}) ([0-9.]+) ([CP])$`)

func ibkrOptionSymbol(s string) string {
	m := reIBKROption.FindStringSubmatch(strings.ToUpper(strings.Join(strings.Fields(s), " ")))
	if m == nil {
		return strings.ReplaceAll(s, " ", "")
	}
	exp, err := time.Parse("02Jan06", m[2]+strings.ToUpper(m[3][:1])+strings.ToLower(m[3][1:])+m[4])
	k, err2 := decimal.NewFromString(m[5])
	if err != nil || err2 != nil {
		return s
	}
	return occ(m[1], exp, m[6], k)
}

// ---- Tradovate (Orders/Fills and Performance exports) ----

func tradovate() *spec {
	return &spec{id: PresetTradovate, name: "Tradovate",
		variants: []variant{
			{name: "performance", signature: []string{"buyfillid", "sellfillid", "boughttimestamp", "soldtimestamp"},
				aliases:  map[string][]string{fSymbol: {"symbol"}, fQuantity: {"qty"}, fPnL: {"pnl"}},
				required: []string{fSymbol, fQuantity},
				row: func(b *binding) ([]Fill, string, error) {
					r := rowReader{b: b}
					q := r.positive(fQuantity, "qty")
					bp := r.colAmount("buyprice", "buyPrice")
					sp := r.colAmount("sellprice", "sellPrice")
					bt := r.colTime("boughttimestamp")
					st := r.colTime("soldtimestamp")
					p, hasPnL := r.pnl("pnl")
					if r.err != nil {
						return nil, "", r.err
					}
					pair := b.getCol("buyfillid") + "-" + b.getCol("sellfillid")
					buy := fill(trading.ExecutionInput{Symbol: b.get(fSymbol), AssetClass: trading.Future, Side: trading.Buy, Quantity: q, Price: bp,
						ExecutedAt: bt, BrokerExecutionID: "perf:" + pair + ":B"})
					sell := fill(trading.ExecutionInput{Symbol: b.get(fSymbol), AssetClass: trading.Future, Side: trading.Sell, Quantity: q, Price: sp,
						ExecutedAt: st, BrokerExecutionID: "perf:" + pair + ":S"})
					closing := &sell // bought first: a long; sold first: a short, closed by the buy
					if st.Before(bt) {
						closing = &buy
					}
					if hasPnL {
						closing.BrokerPnL = decimal.NewNullDecimal(p)
					}
					if st.Before(bt) {
						return []Fill{sell, buy}, "", nil
					}
					return []Fill{buy, sell}, "", nil
				}},
			{name: "orders", signature: []string{"b/s", "contract"},
				aliases: map[string][]string{fSymbol: {"contract"}, fSide: {"b/s"}, fQuantity: {"filledqty", "filled qty", "quantity"},
					fPrice: {"avgprice", "avg fill price", "price"}, fExecutedAt: {"fill time", "timestamp"}, fExecID: {"fill id", "orderid", "order id"},
					fStatus: {"status"}, fCommission: {"commission"}},
				required: []string{fSymbol, fSide, fQuantity, fPrice, fExecutedAt},
				row: func(b *binding) ([]Fill, string, error) {
					if st := strings.ToLower(b.get(fStatus)); st != "" && st != "filled" && !filledPart(b, "filledqty", "filled qty") {
						return nil, "an order that did not fill (" + st + ")", nil
					}
					r := rowReader{b: b}
					side, q, price := r.trade()
					comm := r.opt(fCommission)
					at := r.executedAt()
					return r.one(trading.ExecutionInput{Symbol: b.get(fSymbol), AssetClass: trading.Future, Side: side, Quantity: q, Price: price,
						Commission: comm.Abs(), ExecutedAt: at, BrokerExecutionID: b.get(fExecID)})
				}},
		}}
}

// filledPart reports whether an order whose status says it did not fill
// (cancelled, expired, rejected, still working) filled in part: one of
// the export's filled-quantity columns cols holds more than zero. That
// part is a fill like any other (the quantity field reads the filled
// quantity) and is not dropped with the rest of the order.
func filledPart(b *binding, cols ...string) bool {
	for _, c := range cols {
		if d, err := ParseAmount(b.getCol(c)); err == nil && d.IsPositive() {
			return true
		}
	}
	return false
}

// ---- NinjaTrader 8 (Executions and Trades grids) ----

func ninjaTrader() *spec {
	return &spec{id: PresetNinjaTrader, name: "NinjaTrader 8",
		variants: []variant{
			{name: "executions", signature: []string{"instrument", "action", "quantity", "price", "time", "e/x"},
				aliases: map[string][]string{fSymbol: {"instrument"}, fSide: {"action"}, fQuantity: {"quantity"}, fPrice: {"price"},
					fExecutedAt: {"time"}, fExecID: {"id", "execution id"}, fCommission: {"commission"}, fFees: {"fees", "exchange fees"}},
				required: []string{fSymbol, fSide, fQuantity, fPrice, fExecutedAt},
				row: func(b *binding) ([]Fill, string, error) {
					r := rowReader{b: b}
					side, q, price := r.trade()
					comm := r.opt(fCommission)
					fees := r.opt(fFees)
					at := r.executedAt()
					return r.one(trading.ExecutionInput{Symbol: b.get(fSymbol), AssetClass: trading.Future, Side: side, Quantity: q, Price: price,
						Commission: comm, Fees: fees, ExecutedAt: at, BrokerExecutionID: b.get(fExecID)})
				}},
			{name: "trades", signature: []string{"instrument", "market pos.", "entry price", "exit price", "entry time", "exit time"},
				aliases: map[string][]string{fSymbol: {"instrument"}, fSide: {"market pos."}, fQuantity: {"qty", "quantity"}, fPnL: {"profit"},
					fCommission: {"commission"}},
				required: []string{fSymbol, fSide, fQuantity},
				row: func(b *binding) ([]Fill, string, error) {
					pos := strings.ToLower(b.get(fSide))
					if pos != "long" && pos != "short" {
						return nil, "", fmt.Errorf("%s: %.20q is not Long or Short", "Market pos.", b.get(fSide))
					}
					r := rowReader{b: b}
					q := r.positive(fQuantity, "Qty")
					ep := r.colAmount("entry price", "Entry price")
					xp := r.colAmount("exit price", "Exit price")
					et := r.colTime("entry time")
					xt := r.colTime("exit time")
					comm := r.opt(fCommission)
					p, hasPnL := r.pnl("Profit")
					if r.err != nil {
						return nil, "", r.err
					}
					half := comm.Div(decimal.NewFromInt(2))
					in, out := legs(pos == "short")
					entry := fill(trading.ExecutionInput{Symbol: b.get(fSymbol), AssetClass: trading.Future, Side: in, Quantity: q, Price: ep, Commission: half, ExecutedAt: et})
					exit := fill(trading.ExecutionInput{Symbol: b.get(fSymbol), AssetClass: trading.Future, Side: out, Quantity: q, Price: xp, Commission: comm.Sub(half), ExecutedAt: xt})
					if hasPnL {
						exit.BrokerPnL = decimal.NewNullDecimal(p)
					}
					return []Fill{entry, exit}, "", nil
				}},
		}}
}

// ---- thinkorswim account statement: the Account Trade History section ----

var tosClasses = map[string]trading.AssetClass{"STOCK": trading.Stock, "ETF": trading.ETF, "CALL": trading.Option, "PUT": trading.Option, "FUTURE": trading.Future}

func thinkorswim() *spec {
	sig := []string{"exec time", "side", "qty", "symbol", "price"}
	return &spec{id: PresetThinkorswim, name: "thinkorswim account statement",
		detect: func(head []*Record) bool { return firstField(head, "Account Statement for") },
		frame: func(func(int, string)) framer {
			in := false
			return func(rec *Record, haveHeader bool) (frameKind, []string) {
				if !in {
					if nonEmpty(rec.Fields) == 1 && norm(rec.Fields[0]) == "account trade history" {
						in = true
					}
					return frameSkip, nil
				}
				if rec.Blank() {
					return frameSkip, nil
				}
				if haveHeader && isTitle(rec) {
					in = false
					return frameEnd, nil
				}
				if !haveHeader {
					return frameHeader, rec.Fields
				}
				return frameData, rec.Fields
			}
		},
		variants: []variant{{name: "trade history", signature: sig,
			aliases: map[string][]string{fExecutedAt: {"exec time"}, fSide: {"side"}, fQuantity: {"qty"}, fSymbol: {"symbol"}, fPrice: {"price"},
				fAssetClass: {"type"}},
			required: []string{fSymbol, fSide, fQuantity, fPrice},
			row:      tosRow(),
		}},
	}
}

// tosRow reads trade history rows; a spread's later legs leave Exec Time
// empty and take the first leg's.
func tosRow() rowFunc {
	var lastAt time.Time
	return func(b *binding) ([]Fill, string, error) {
		at := lastAt
		if v := b.get(fExecutedAt); v != "" {
			t, _, err := b.when(fExecutedAt, v)
			if err != nil {
				// The spread's later legs must not take an earlier
				// trade's time: they are rejected with it.
				lastAt = time.Time{}
				return nil, "", err
			}
			at, lastAt = t, t
		} else if at.IsZero() {
			return nil, "", fmt.Errorf("%s: empty", "Exec Time")
		}
		typ := strings.ToUpper(b.get(fAssetClass))
		class, ok := tosClasses[typ]
		if !ok {
			return nil, "", fmt.Errorf("%s %.20q is not supported", "Type", typ)
		}
		r := rowReader{b: b}
		side, q, price := r.trade()
		if r.err != nil {
			return nil, "", r.err
		}
		sym := b.get(fSymbol)
		if class == trading.Option {
			exp, err := time.Parse("2 Jan 06", titleMonth(b.getCol("exp")))
			if err != nil {
				return nil, "", fmt.Errorf("%s: %.20q is not a date such as 19 JUN 26", "Exp", b.getCol("exp"))
			}
			k, err := b.colAmount("strike", "Strike")
			if err != nil {
				return nil, "", err
			}
			sym = occ(sym, exp, typ[:1], k)
		}
		return []Fill{fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Side: side, Quantity: q, Price: price, ExecutedAt: at})}, "", nil
	}
}

// titleMonth turns "19 JUN 26" into "19 Jun 26" for time.Parse.
func titleMonth(s string) string {
	f := strings.Fields(s)
	if len(f) == 3 && len(f[1]) == 3 {
		f[1] = strings.ToUpper(f[1][:1]) + strings.ToLower(f[1][1:])
	}
	return strings.Join(f, " ")
}

// ---- Schwab transactions CSV ----

var reSchwabOption = regexp.MustCompile(`^([A-Z.]{1,6}) ([0-9]{2}/[0-9]{2}/[0-9]{4}) ([0-9.]+) ([CP])$`)

// stockOrOption reads a stock symbol or a broker's spelled-out option
// ("AAPL 06/19/2026 150.00 C").
func stockOrOption(b *binding, sym string) (string, trading.AssetClass) {
	u := strings.ToUpper(strings.Join(strings.Fields(sym), " "))
	if m := reSchwabOption.FindStringSubmatch(u); m != nil {
		exp, err := time.Parse("01/02/2006", m[2])
		k, err2 := decimal.NewFromString(m[3])
		if err == nil && err2 == nil {
			return occ(m[1], exp, m[4], k), trading.Option
		}
	}
	return u, b.classOf(u)
}

func schwab() *spec {
	return &spec{id: PresetSchwab, name: "Charles Schwab transactions",
		variants: []variant{{name: "transactions", signature: []string{"date", "action", "symbol", "quantity", "price", "fees & comm"},
			aliases: map[string][]string{fDate: {"date"}, fSide: {"action"}, fSymbol: {"symbol"}, fQuantity: {"quantity"}, fPrice: {"price"},
				fCommission: {"fees & comm"}},
			required: []string{fDate, fSide, fSymbol, fQuantity, fPrice},
			row: func(b *binding) ([]Fill, string, error) {
				if strings.HasPrefix(strings.ToLower(b.get(fDate)), "transactions total") {
					return nil, "the totals row", nil
				}
				if _, ok := sideOf(b.get(fSide)); !ok {
					return nil, "not a trade (" + b.get(fSide) + ")", nil
				}
				r := rowReader{b: b}
				side, q, price := r.trade()
				comm := r.opt(fCommission)
				if r.err != nil {
					return nil, "", r.err
				}
				d := b.get(fDate)
				if i := strings.Index(d, " as of "); i > 0 {
					d = d[:i]
				}
				at, err := b.fillAt(fDate, d, b.get(fSide))
				if err != nil {
					return nil, "", err
				}
				sym, class := stockOrOption(b, b.get(fSymbol))
				return []Fill{fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Side: side, Quantity: q, Price: price, Commission: comm.Abs(), ExecutedAt: at})}, "", nil
			}}}}
}

// ---- Robinhood account activity ----

var reRobinhoodOption = regexp.MustCompile(`^([A-Z.]{1,6}) ([0-9]{1,2}/[0-9]{1,2}/[0-9]{4}) (CALL|PUT) \$?([0-9.,]+)$`)

func robinhood() *spec {
	return &spec{id: PresetRobinhood, name: "Robinhood account activity",
		variants: []variant{{name: "activity", signature: []string{"activity date", "instrument", "trans code", "quantity", "price"},
			aliases:  map[string][]string{fDate: {"activity date"}, fSymbol: {"instrument"}, fSide: {"trans code"}, fQuantity: {"quantity"}, fPrice: {"price"}},
			required: []string{fDate, fSymbol, fSide, fQuantity, fPrice},
			row: func(b *binding) ([]Fill, string, error) {
				code := strings.ToUpper(b.get(fSide))
				switch code {
				case "BUY", "SELL", "BTO", "STC", "STO", "BTC":
				default:
					return nil, "not a trade (" + code + ")", nil
				}
				r := rowReader{b: b}
				side, q, price := r.trade()
				if r.err != nil {
					return nil, "", r.err
				}
				at, err := b.fillAt(fDate, b.get(fDate), code)
				if err != nil {
					return nil, "", err
				}
				sym, class := strings.ToUpper(b.get(fSymbol)), trading.Stock
				if code != "BUY" && code != "SELL" {
					desc := strings.ToUpper(strings.Join(strings.Fields(b.getCol("description")), " "))
					m := reRobinhoodOption.FindStringSubmatch(desc)
					if m == nil {
						return nil, "", fmt.Errorf("%s %.40q is not an option such as \"AAPL 6/19/2026 Call $150.00\"", "Description", b.getCol("description"))
					}
					exp, err := time.Parse("1/2/2006", m[2])
					if err != nil {
						return nil, "", fmt.Errorf("%s: %w", "Description", err)
					}
					k, err := ParseAmount(m[4])
					if err != nil {
						return nil, "", fmt.Errorf("%s: %w", "Description", err)
					}
					sym, class = occ(m[1], exp, m[3][:1], k), trading.Option
				}
				return []Fill{fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Side: side, Quantity: q, Price: price, ExecutedAt: at})}, "", nil
			}}}}
}

// ---- Webull orders ----

func webull() *spec {
	return &spec{id: PresetWebull, name: "Webull orders",
		variants: []variant{{name: "orders", signature: []string{"symbol", "side", "status", "filled", "avg price", "filled time"},
			aliases: map[string][]string{fSymbol: {"symbol"}, fSide: {"side"}, fStatus: {"status"}, fQuantity: {"filled"}, fPrice: {"avg price"},
				fExecutedAt: {"filled time"}},
			required: []string{fSymbol, fSide, fQuantity, fPrice, fExecutedAt, fStatus},
			row: func(b *binding) ([]Fill, string, error) {
				st := strings.ToLower(b.get(fStatus))
				if st != "filled" && st != "partially filled" && !filledPart(b, "filled") {
					return nil, "an order that did not fill (" + st + ")", nil
				}
				r := rowReader{b: b}
				side, q := r.sideQty()
				if r.err != nil {
					return nil, "", r.err
				}
				price, err := ParseAmount(strings.TrimPrefix(b.get(fPrice), "@"))
				if err != nil {
					return nil, "", fmt.Errorf("%s: %w", "Avg Price", err)
				}
				at := r.executedAt()
				sym := strings.ToUpper(b.get(fSymbol))
				return r.one(trading.ExecutionInput{Symbol: sym, AssetClass: b.classOf(sym), Side: side, Quantity: q, Price: price, ExecutedAt: at})
			}}}}
}

// ---- TradeZero trade details ----

var tradeZeroFees = []string{"sec", "taf", "nscc", "nasdaq", "ecn remove", "ecn add", "misc fees"}

func tradeZero() *spec {
	return &spec{id: PresetTradeZero, name: "TradeZero trades",
		variants: []variant{{name: "trades", signature: []string{"t/d", "side", "symbol", "qty", "price", "exec time"},
			aliases: map[string][]string{fDate: {"t/d"}, fTime: {"exec time"}, fSide: {"side"}, fSymbol: {"symbol"}, fQuantity: {"qty"},
				fPrice: {"price"}, fCommission: {"comm"}, fCurrency: {"currency"}},
			required: []string{fDate, fTime, fSide, fSymbol, fQuantity, fPrice},
			row: func(b *binding) ([]Fill, string, error) {
				r := rowReader{b: b}
				side, q, price := r.trade()
				comm := r.opt(fCommission)
				if r.err != nil {
					return nil, "", r.err
				}
				fees := decimal.Zero
				for _, c := range tradeZeroFees {
					v, err := optAmount(b.getCol(c))
					if err != nil {
						return nil, "", fmt.Errorf("%s: %w", c, err)
					}
					fees = fees.Add(v)
				}
				at := r.executedAt()
				sym := strings.ToUpper(b.get(fSymbol))
				return r.one(trading.ExecutionInput{Symbol: sym, AssetClass: b.classOf(sym), Currency: b.get(fCurrency), Side: side, Quantity: q,
					Price: price, Commission: comm, Fees: fees, ExecutedAt: at})
			}}}}
}

// ---- MetaTrader 5 trade history report: the Positions section ----

var reForexPair = regexp.MustCompile(`^[A-Z]{6}$`)

// forexLot is a standard lot: MetaTrader's volumes are lots.
var forexLot = decimal.NewFromInt(100000)

var currencies = []string{"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "HUF", "CZK", "SGD", "HKD", "MXN", "ZAR", "TRY", "CNH"}

func mt5() *spec {
	return &spec{id: PresetMT5, name: "MetaTrader 5 report", sections: true,
		detect: func(head []*Record) bool { return firstField(head, "Trade History Report") },
		variants: []variant{{name: "positions", signature: []string{"time", "position", "symbol", "type", "volume", "price", "time#2", "price#2"},
			aliases:  map[string][]string{fSymbol: {"symbol"}, fSide: {"type"}, fQuantity: {"volume"}, fCommission: {"commission"}, fFees: {"swap"}, fPnL: {"profit"}},
			required: []string{fSymbol, fSide, fQuantity},
			row: func(b *binding) ([]Fill, string, error) {
				typ := strings.ToLower(b.get(fSide))
				if typ != "buy" && typ != "sell" {
					return nil, "not a position (" + typ + ")", nil
				}
				r := rowReader{b: b}
				lots := r.positive(fQuantity, "Volume")
				op := r.colAmount("price", "Price")
				cp := r.colAmount("price#2", "Price (close)")
				ot := r.colTime("time")
				ct := r.colTime("time#2")
				comm := r.opt(fCommission)
				swap := r.opt(fFees)
				p, hasPnL := r.pnl("Profit")
				if r.err != nil {
					return nil, "", r.err
				}
				sym := strings.ToUpper(b.get(fSymbol))
				class, mult := trading.CFD, decimal.Zero
				if reForexPair.MatchString(sym) && slices.Contains(currencies, sym[:3]) && slices.Contains(currencies, sym[3:]) {
					class, mult = trading.Forex, forexLot
				}
				pnlComparable := true
				if class == trading.Forex && b.cur != "" && sym[3:] != b.cur {
					comm, swap, pnlComparable = mt5InQuote(b, sym, typ == "sell", lots, op, cp, comm, swap, p, hasPnL)
				}
				in, out := legs(typ == "sell")
				half := comm.Abs().Div(decimal.NewFromInt(2))
				id := b.getCol("position")
				open := fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Multiplier: mult, Side: in, Quantity: lots, Price: op,
					Commission: half, ExecutedAt: ot, BrokerExecutionID: "mt5:" + id + ":open"})
				closing := fill(trading.ExecutionInput{Symbol: sym, AssetClass: class, Multiplier: mult, Side: out, Quantity: lots, Price: cp,
					Commission: comm.Abs().Sub(half), Fees: swap.Neg(), ExecutedAt: ct, BrokerExecutionID: "mt5:" + id + ":close"})
				if id == "" {
					open.Input.BrokerExecutionID, closing.Input.BrokerExecutionID = "", ""
				}
				if hasPnL && pnlComparable {
					closing.BrokerPnL = decimal.NewNullDecimal(p)
				}
				return []Fill{open, closing}, "", nil
			}}}}
}

// mt5InQuote converts a MetaTrader position's commission and swap, which
// the report gives in the deposit currency (the account's, b.cur), into
// the quote currency of its pair sym, which the trade's figures are in:
// at the close price when the deposit currency is the pair's base
// (USDJPY in a USD account: 1 USD = close JPY, exact), else at the rate
// the report's profit implies (EURGBP in a USD account: the position's
// gross P&L in GBP over its profit in USD). The profit, in another
// currency than the trade's, is not compared (comparable false). Without
// a rate (no profit, or none to divide), the amounts stay as given, and a
// warning says so.
func mt5InQuote(b *binding, sym string, short bool, lots, op, cp, comm, swap, profit decimal.Decimal, hasPnL bool) (decimal.Decimal, decimal.Decimal, bool) {
	quote := sym[3:]
	var rate decimal.Decimal // quote currency per unit of the deposit currency
	how := ""
	gross := cp.Sub(op).Mul(lots).Mul(forexLot)
	if short {
		gross = gross.Neg()
	}
	switch {
	case sym[:3] == b.cur && cp.IsPositive():
		rate, how = cp, "close price"
	case hasPnL && !profit.IsZero() && !gross.IsZero() && gross.Sign() == profit.Sign():
		rate, how = gross.DivRound(profit, 16), "profit (the rate it implies)"
	}
	if hasPnL && !gross.IsZero() && !profit.IsZero() && gross.Sign() != profit.Sign() {
		// Not comparable in amount, but a gain against a loss is a
		// disagreement all the same.
		b.warn(b.line, fmt.Sprintf("%s: the report's profit (%s %s) and the position's P&L from its prices (%s %s) have opposite signs",
			sym, profit, b.cur, gross, quote))
	}
	if rate.IsZero() {
		// Every such position is named: each is recorded unconverted.
		b.warn(b.line, fmt.Sprintf("%s is quoted in %s: MetaTrader gives commission and swap in the account's %s, and this position "+
			"has no profit of the sign of its P&L to derive a rate from: they are recorded unconverted, as %s", sym, quote, b.cur, quote))
		return comm, swap, false
	}
	b.once("mt5-converted:"+sym, fmt.Sprintf("%s is quoted in %s: MetaTrader's commission and swap, in the account's %s, are converted to %s "+
		"at each position's %s; its profit, in %s, is not compared with the trade's", sym, quote, b.cur, quote, how, b.cur))
	return comm.Mul(rate).Round(10), swap.Mul(rate).Round(10), false
}

// ---- generic CSV ----

// GenericFields are the fields a generic mapping may name, and the
// header names used when it names none (the executions export's).
var GenericFields = []string{fSymbol, fAssetClass, fSide, fQuantity, fPrice, fCommission, fFees, fExecutedAt, fDate, fTime, fExecID, fCurrency, fMultiplier}

var genericRequired = []string{fSymbol, fQuantity, fPrice, fExecutedAt + "|" + fDate}

// ValidateMapping checks a generic mapping: known fields, header names of
// 1 to 100 characters, the required fields present.
func ValidateMapping(m map[string]string) map[string]string {
	bad := map[string]string{}
	for k, v := range m {
		if !slices.Contains(GenericFields, k) {
			bad[k] = "is not a field (" + strings.Join(GenericFields, ", ") + ")"
		} else if n := len(strings.TrimSpace(v)); n == 0 || n > 100 {
			bad[k] = "must name a column (1 to 100 characters)"
		}
	}
	for _, r := range genericRequired {
		ok := false
		for _, a := range strings.Split(r, "|") {
			if m[a] != "" {
				ok = true
			}
		}
		if !ok {
			bad[strings.Split(r, "|")[0]] = "is required"
		}
	}
	return bad
}

type generic struct{ *spec }

// Generic returns the generic preset: columns named by Options.Mapping,
// or by the executions export's header when none is given.
func Generic() Parser { return generic{genericSpec(nil)} }

func (g generic) Parse(ctx context.Context, r *Reader, o Options, sink Sink) error {
	return genericSpec(o.Mapping).Parse(ctx, r, o, sink)
}

func genericSpec(m map[string]string) *spec {
	aliases := map[string][]string{}
	required := slices.Clone(genericRequired)
	var sigs [][]string
	if len(m) == 0 {
		for _, f := range GenericFields {
			aliases[f] = []string{f}
		}
		// The executions export's header, or the same with a date (and
		// an optional time) column instead of executed_at; the side is
		// optional (then the quantity's sign), as with a mapping.
		sigs = [][]string{{fSymbol, fQuantity, fPrice, fExecutedAt}, {fSymbol, fQuantity, fPrice, fDate}}
	} else {
		var sig []string
		for f, col := range m {
			aliases[f] = []string{norm(col)}
			if f != fCommission && f != fFees && f != fAssetClass && f != fExecID && f != fCurrency && f != fMultiplier && f != fTime {
				sig = append(sig, norm(col))
			}
			// Every field the mapping names must find its column, the
			// optional ones too: a mapping whose commission column the
			// file does not have would otherwise import every fill
			// without its commission, silently.
			required = append(required, f)
		}
		slices.Sort(required[len(genericRequired):])
		slices.Sort(sig) // the problem of a missing column names them in a stable order
		sigs = [][]string{sig}
	}
	variants := make([]variant, len(sigs))
	for i, sig := range sigs {
		variants[i] = variant{name: "mapped", signature: sig, aliases: aliases, required: required, row: genericRow, mapped: m}
	}
	return &spec{id: PresetGeneric, name: "generic CSV", variants: variants}
}

// genericRow reads one row of a generic file.
func genericRow(b *binding) ([]Fill, string, error) {
	class := trading.AssetClass(strings.ToLower(b.get(fAssetClass)))
	if class == "" {
		class = b.classOf(b.get(fSymbol))
	} else if !class.Valid() {
		return nil, "", fmt.Errorf("%s: %.20q is not an asset class", b.label(fAssetClass), string(class))
	}
	r := rowReader{b: b}
	side, q := r.sideQty()
	if r.err == nil && side == "" {
		r.err = errors.New("no side")
	}
	price := r.amount(fPrice)
	comm := r.opt(fCommission)
	fees := r.opt(fFees)
	mult := r.opt(fMultiplier)
	at := r.executedAt()
	// The executions export's id column: a row imported back into its
	// account is the execution it was exported from (trading.ExecutionInput.SourceID).
	src, _ := uuid.Parse(b.getCol(exportIDColumn))
	return r.one(trading.ExecutionInput{Symbol: unescapeFormula(b.get(fSymbol)), AssetClass: class, Multiplier: mult, Currency: b.get(fCurrency),
		Side: side, Quantity: q, Price: price, Commission: comm, Fees: fees, ExecutedAt: at, BrokerExecutionID: unescapeFormula(b.get(fExecID)),
		SourceID: src})
}

// unescapeFormula undoes the export's guard against formula injection (a
// leading apostrophe before = + - @), so that a round trip is exact.
func unescapeFormula(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}
