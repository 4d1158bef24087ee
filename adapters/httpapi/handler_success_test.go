package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
)

var (
	sampleTime = time.Date(2026, 3, 2, 15, 4, 5, 0, time.UTC)
	sampleID   = uuid.MustParse("0190aaaa-0000-7000-8000-000000000001")
)

// sampleValue is a value of typ with every exported field set: "3" for a
// string (a name, a decimal, an entity tag alike), 3 for a number, one
// element for a slice or a map, and fixed instants, IDs and decimals.
func sampleValue(typ reflect.Type, depth int) reflect.Value {
	v := reflect.New(typ).Elem()
	switch typ {
	case reflect.TypeFor[time.Time]():
		return reflect.ValueOf(sampleTime)
	case reflect.TypeFor[time.Duration]():
		return reflect.ValueOf(90 * time.Minute)
	case reflect.TypeFor[uuid.UUID]():
		return reflect.ValueOf(sampleID)
	case reflect.TypeFor[decimal.Decimal]():
		return reflect.ValueOf(decimal.RequireFromString("1234.5"))
	case reflect.TypeFor[decimal.NullDecimal]():
		return reflect.ValueOf(decimal.NewNullDecimal(decimal.RequireFromString("-2.25")))
	case reflect.TypeFor[trading.Date]():
		return reflect.ValueOf(trading.Date{Year: 2026, Month: time.March, Day: 2})
	case reflect.TypeFor[*time.Location]():
		return reflect.ValueOf(time.UTC)
	case reflect.TypeFor[time.Month]():
		return reflect.ValueOf(time.March)
	case reflect.TypeFor[time.Weekday]():
		return reflect.ValueOf(time.Monday)
	}
	if depth > 5 {
		return v
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString("3")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(3)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(3)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(3)
	case reflect.Slice:
		v = reflect.Append(reflect.MakeSlice(typ, 0, 1), sampleValue(typ.Elem(), depth+1))
	case reflect.Map:
		v = reflect.MakeMap(typ)
		v.SetMapIndex(sampleValue(typ.Key(), depth+1), sampleValue(typ.Elem(), depth+1))
	case reflect.Pointer:
		p := reflect.New(typ.Elem())
		p.Elem().Set(sampleValue(typ.Elem(), depth+1))
		v = p
	case reflect.Struct:
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				v.Field(i).Set(sampleValue(typ.Field(i).Type, depth+1))
			}
		}
	}
	return v
}

// filled is sampleValue for T.
func filled[T any]() T { return sampleValue(reflect.TypeFor[T](), 0).Interface().(T) }

// visit writes a strict response as the server would and returns the
// recorder.
func visit(resp any) (*httptest.ResponseRecorder, error) {
	rec := httptest.NewRecorder()
	v := reflect.ValueOf(resp)
	for i := range v.NumMethod() {
		if strings.HasPrefix(v.Type().Method(i).Name, "Visit") {
			out := v.Method(i).Call([]reflect.Value{reflect.ValueOf(rec)})
			err, _ := out[0].Interface().(error)
			return rec, err
		}
	}
	return nil, fmt.Errorf("%T has no Visit method", resp)
}

// TestHandlersAnswerAServicesFullResult: with every field of the request
// set, each operation of the trading, journal, import and analytics
// modules whose service succeeds (with a result whose every field is set)
// writes a 2xx answer, a JSON one that decodes, or refuses its request as
// Invalid before it reaches the service; none fails on a value it maps.
func TestHandlersAnswerAServicesFullResult(t *testing.T) {
	api := &strictServer{
		tradingHandlers:   &tradingHandlers{svc: okTrading{}},
		journalHandlers:   &journalHandlers{svc: okJournal{}, trades: okTrading{}},
		importHandlers:    &importHandlers{svc: okImports{}},
		analyticsHandlers: &analyticsHandlers{figures: okAnalytics{}, reports: okReports{}},
	}
	ctx := identity.WithPrincipal(context.Background(), identity.Principal{UserID: uuid.New(), Role: identity.RoleUser, AAL: 1})
	modules := []reflect.Type{reflect.TypeFor[*tradingHandlers](), reflect.TypeFor[*journalHandlers](),
		reflect.TypeFor[*importHandlers](), reflect.TypeFor[*analyticsHandlers]()}
	answered, refused := 0, []string{}
	for name, bearer := range specOperations(t) {
		if !bearer || !slices.ContainsFunc(modules, func(m reflect.Type) bool { _, ok := m.MethodByName(name); return ok }) {
			continue
		}
		m := reflect.ValueOf(api).MethodByName(name)
		req := sampleValue(m.Type().In(1), 0)
		if f := req.FieldByName("Body"); f.IsValid() && f.Kind() == reflect.Pointer && f.Type().Elem().PkgPath() != reflect.TypeFor[Config]().PkgPath()+"/gen" {
			f.Set(reflect.Zero(f.Type())) // a multipart stream: none
		}
		var resp any
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			out := m.Call([]reflect.Value{reflect.ValueOf(ctx), req})
			resp = out[0].Interface()
			err, _ = out[1].Interface().(error)
		}()
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.Invalid {
				t.Errorf("%s: %v; want an answer or an Invalid request", name, err)
				continue
			}
			refused = append(refused, name+": "+ae.Message)
			continue
		}
		rec, err := visit(resp)
		if err != nil {
			t.Errorf("%s: writing %T: %v", name, resp, err)
			continue
		}
		if rec.Code < 200 || rec.Code > 299 {
			t.Errorf("%s answered %d", name, rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			var body any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Errorf("%s: body is not JSON: %v", name, err)
			}
		}
		answered++
	}
	t.Logf("%d operations answered; refused: %v", answered, refused)
	if answered < 40 {
		t.Fatalf("only %d operations answered", answered)
	}
}
