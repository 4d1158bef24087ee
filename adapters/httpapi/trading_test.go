package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
)

// bearerIdentity accepts the token "ok" as one user.
type bearerIdentity struct {
	stubIdentity
	user uuid.UUID
}

func (b bearerIdentity) Authenticate(_ context.Context, tok string) (identity.Principal, error) {
	if tok != "ok" {
		return stubIdentity{}.Authenticate(context.Background(), tok)
	}
	return identity.Principal{UserID: b.user, Role: identity.RoleUser, AAL: 1}, nil
}

// fakeTrades records what ListTradesEncoded is asked.
type fakeTrades struct {
	Trading
	user uuid.UUID
	f    trading.Filter
	s    trading.Sort
	p    trading.Page
}

func (f *fakeTrades) ListTradesEncoded(_ context.Context, userID uuid.UUID, fl trading.Filter, s trading.Sort, p trading.Page,
	enc cache.Encoding[trading.TradePage]) ([]byte, error) {
	f.user, f.f, f.s, f.p = userID, fl, s, p
	t := trading.Trade{ID: uuid.New(), Symbol: "ESZ26", AssetClass: trading.Future, Currency: "USD", Direction: trading.Short, Status: trading.Closed,
		NetPnL: decimal.RequireFromString("1234.50"), AvgExitPrice: decimal.NewNullDecimal(decimal.RequireFromString("0.000000000001")),
		OpenedAt: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC), ClosedAt: time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC), Holding: time.Hour}
	return enc.Encode(trading.TradePage{Items: []trading.Trade{t}, NextCursor: "next"})
}

// TestListTradesHandlerOnAFake: the handler reads the filter from the raw
// query (through the strict server's context) and renders decimals as
// strings.
func TestListTradesHandlerOnAFake(t *testing.T) {
	user := uuid.New()
	fake := &fakeTrades{}
	d := testDeps(t, io.Discard, nil)
	d.Identity, d.Trading = bearerIdentity{user: user}, fake
	s := newTestServer(t, DefaultConfig(), d)
	tag1, tag2 := uuid.New(), uuid.New()
	req := httptest.NewRequest("GET", "/api/v1/trades?symbol=esz26&tag_id="+tag1.String()+","+tag2.String()+"&tag_mode=all&min_net_pnl=-5.5&sort=net_pnl&order=asc&limit=20", nil)
	req.Header.Set("Authorization", "Bearer ok")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if fake.user != user || len(fake.f.Symbols) != 1 || fake.f.Symbols[0] != "ESZ26" || fake.f.TagMode != trading.AllTags ||
		len(fake.f.TagIDs) != 2 || !fake.f.MinNetPnL.Valid || fake.f.MinNetPnL.Decimal.String() != "-5.5" ||
		fake.s != (trading.Sort{Key: trading.SortNetPnL, Asc: true}) || fake.p.Limit != 20 {
		t.Fatalf("service asked %v %+v %+v %+v", fake.user, fake.f, fake.s, fake.p)
	}
	var body struct {
		Items []map[string]any `json:"items"`
		Next  string           `json:"next_cursor"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Items) != 1 || body.Next != "next" {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if body.Items[0]["net_pnl"] != "1234.5" || body.Items[0]["avg_exit_price"] != "0.000000000001" || body.Items[0]["holding_seconds"] != float64(3600) ||
		body.Items[0]["currency"] != "USD" {
		t.Fatalf("item = %v", body.Items[0])
	}

	// A bad filter never reaches the service.
	fake.user = uuid.Nil
	req = httptest.NewRequest("GET", "/api/v1/trades?weekday=9", nil)
	req.Header.Set("Authorization", "Bearer ok")
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 400 || fake.user != uuid.Nil {
		t.Fatalf("bad filter: %d %s (service called: %v)", rec.Code, rec.Body, fake.user != uuid.Nil)
	}
}

// TestListTradesJSONMatchesEncodingJSON: the list's answer, encoded by
// goccy/go-json, is byte for byte what the generated response (encoding/json)
// writes, for trades with every optional field set and none, notes that
// need escaping (HTML characters, line and paragraph separators, control
// characters, invalid UTF-8), with and without a next cursor.
func TestListTradesJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC)
	d := decimal.RequireFromString
	full := trading.Trade{
		ID: uuid.New(), UserID: uuid.New(), AccountID: uuid.New(), Symbol: "ES<&>", AssetClass: trading.Future,
		Direction: trading.Short, Status: trading.Closed, Multiplier: d("50"), Quantity: d("2"), MaxPosition: d("3"),
		OpenQuantity: d("0"), CostBasis: d("10000.5"), AvgEntryPrice: d("5000.25"),
		AvgExitPrice: decimal.NewNullDecimal(d("4990.125")), GrossPnL: d("-1234567890123456789.123456789"),
		Commission: d("2.1"), Fees: d("0.013"), NetPnL: d("-0.0000001"), RMultiple: decimal.NewNullDecimal(d("1.5")),
		OpenedAt: at, ClosedAt: at.Add(90 * time.Minute), Holding: 90 * time.Minute, Outcome: trading.Loss,
		Annotation: trading.Annotation{
			TagIDs: []uuid.UUID{uuid.New(), uuid.New()}, PlaybookID: uuid.New(),
			Notes:       "<script>alert('x')</script> & \u2028\u2029 \x01\x1f\t\n\"\\ é 😀 \xff\xfe end",
			PlannedStop: decimal.NewNullDecimal(d("4995")), PlannedTarget: decimal.NewNullDecimal(d("4980")),
			InitialRisk: decimal.NewNullDecimal(d("250")), Rating: 4, Confidence: 7,
			FollowedRules: []uuid.UUID{uuid.New()}, Version: 3, UpdatedAt: at,
		},
	}
	open := trading.Trade{ID: uuid.New(), AccountID: uuid.New(), Symbol: "AAPL", AssetClass: trading.Stock,
		Direction: trading.Long, Status: trading.Open, OpenedAt: at.In(time.FixedZone("x", 3600))}
	cursor := "eyJrIjoib3BlbmVkIn0"
	for _, next := range []*string{nil, &cursor} {
		for _, items := range [][]trading.Trade{nil, {}, {full}, {open, full, open}} {
			body := gen.ListTrades200JSONResponse{Items: tradesBody(items), NextCursor: next}
			want := httptest.NewRecorder()
			if err := body.VisitListTradesResponse(want); err != nil {
				t.Fatal(err)
			}
			got := httptest.NewRecorder()
			page := trading.TradePage{Items: items}
			if next != nil {
				page.NextCursor = *next
			}
			b, err := tradePageJSON.Encode(page)
			if err != nil {
				t.Fatal(err)
			}
			if err := rawJSON(b).VisitListTradesResponse(got); err != nil {
				t.Fatal(err)
			}
			if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") ||
				got.Body.String() != want.Body.String() {
				t.Fatalf("%d items: go-json wrote %d %q\n%s\nencoding/json %d %q\n%s", len(items), got.Code,
					got.Header().Get("Content-Type"), got.Body, want.Code, want.Header().Get("Content-Type"), want.Body)
			}
		}
	}
}
