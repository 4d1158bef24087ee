package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/tests/testenv"
)

// sample is a valid-looking value of typ: a short key for a string, one
// (a second, for a duration) for a number, one element for a slice or a
// map, every exported field set for a struct.
func sample(typ reflect.Type, depth int) reflect.Value {
	v := reflect.New(typ).Elem()
	if depth > 3 {
		return v
	}
	if typ == reflect.TypeFor[json.RawMessage]() {
		return reflect.ValueOf(json.RawMessage(`{}`))
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString("k")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if typ == reflect.TypeFor[time.Duration]() {
			v.SetInt(int64(time.Minute))
		} else {
			v.SetInt(1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		v = reflect.Append(reflect.MakeSlice(typ, 0, 1), sample(typ.Elem(), depth+1))
	case reflect.Map:
		v = reflect.MakeMap(typ)
		v.SetMapIndex(sample(typ.Key(), depth+1), sample(typ.Elem(), depth+1))
	case reflect.Pointer:
		p := reflect.New(typ.Elem())
		p.Elem().Set(sample(typ.Elem(), depth+1))
		v = p
	case reflect.Struct:
		if typ == reflect.TypeFor[time.Time]() {
			return reflect.ValueOf(time.Now().Add(time.Hour))
		}
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				v.Field(i).Set(sample(typ.Field(i).Type, depth+1))
			}
		}
	}
	return v
}

// callZero calls m with ctx and sample values for the other arguments and
// returns its error result, a panic as an error.
func callZero(m reflect.Value, ctx context.Context) (err error, hasErr bool) {
	typ := m.Type()
	args := []reflect.Value{reflect.ValueOf(ctx)}
	for i := 1; i < typ.NumIn(); i++ {
		args = append(args, sample(typ.In(i), 0))
	}
	defer func() {
		if r := recover(); r != nil {
			err, hasErr = fmt.Errorf("panic: %v", r), true
		}
	}()
	var out []reflect.Value
	if typ.IsVariadic() {
		out = m.CallSlice(args)
	} else {
		out = m.Call(args)
	}
	for i := len(out) - 1; i >= 0; i-- {
		if typ.Out(i) == reflect.TypeFor[error]() {
			e, _ := out[i].Interface().(error)
			return e, true
		}
	}
	return nil, false
}

// TestEveryStoreAnswersUnavailableWhenRedisIsGone: once the connection
// to Redis is gone, every method of the cache, the rate limiter, the
// short-lived store and the job store fails with Unavailable (a 503 and
// a retry, or the cache's fallback to the database), never a panic, a
// success, or a domain answer such as NotFound ("no such job").
func TestEveryStoreAnswersUnavailableWhenRedisIsGone(t *testing.T) {
	cfg := redisstore.DefaultConfig()
	cfg.URL = testenv.URL(t, "TEST_REDIS_URL")
	cfg.KeyPrefix = uniquePrefix(t)
	cfg.ConnectTimeout = 3 * time.Second
	c, cleanup, err := redisstore.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		testenv.Unreachable(t, "TEST_REDIS_URL", err)
	}
	stores := map[string]any{"Cache": redisstore.NewCache(c), "RateLimiter": redisstore.NewRateLimiter(c),
		"ShortLived": redisstore.NewShortLived(c), "Jobs": redisstore.NewJobs(c)}
	cleanup()
	ctxType := reflect.TypeFor[context.Context]()
	checked := 0
	for name, store := range stores {
		v := reflect.ValueOf(store)
		for i := range v.NumMethod() {
			m, full := v.Method(i), name+"."+v.Type().Method(i).Name
			if m.Type().NumIn() == 0 || m.Type().In(0) != ctxType {
				continue
			}
			err, hasErr := callZero(m, context.Background())
			if !hasErr {
				continue
			}
			checked++
			if !apperr.Is(err, apperr.Unavailable) {
				t.Errorf("%s with Redis gone = %v; want Unavailable", full, err)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d methods checked", checked)
	}
}
