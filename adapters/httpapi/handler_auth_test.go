package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// specOperations maps each operationId of openapi.yaml (as the generated
// strict interface names its method) to whether it declares bearerAuth.
func specOperations(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := loadSpec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			name := strings.ToUpper(op.OperationID[:1]) + op.OperationID[1:]
			ops[name] = op.Security != nil && requiresBearer(*op.Security)
		}
	}
	return ops
}

// zeroRequest is the request object a strict method takes, with its JSON
// body (when it has one) allocated, as the strict server hands it over
// after decoding an empty object.
func zeroRequest(typ reflect.Type) reflect.Value {
	req := reflect.New(typ).Elem()
	if f := req.FieldByName("Body"); f.IsValid() && f.Kind() == reflect.Pointer &&
		f.Type().Elem().PkgPath() == reflect.TypeFor[gen.Tag]().PkgPath() {
		f.Set(reflect.New(f.Type().Elem()))
	}
	return req
}

// callStrict calls the strict server's method by name, turning a panic
// into an error so that one handler's fault names that handler.
func callStrict(api *strictServer, name string, ctx context.Context) (err error) {
	m := reflect.ValueOf(api).MethodByName(name)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	out := m.Call([]reflect.Value{reflect.ValueOf(ctx), zeroRequest(m.Type().In(1))})
	if e, _ := out[1].Interface().(error); e != nil {
		return e
	}
	return nil
}

// TestBearerOperationsRefuseACallWithoutAPrincipal: the authenticator
// middleware turns away a request without a token, and every handler of an
// operation that declares bearerAuth checks again on its own (defence in
// depth: a route mounted without the middleware, or a spec edit that drops
// the security requirement, still cannot reach a user's data). Each one
// answers Unauthenticated with token_missing before it touches a service:
// the services here are nil interfaces, which would panic if called.
func TestBearerOperationsRefuseACallWithoutAPrincipal(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	api := &strictServer{
		systemHandlers:    &systemHandlers{health: d.Health, build: d.Build, log: d.Log},
		identityHandlers:  &identityHandlers{},
		mfaHandlers:       &mfaHandlers{},
		jobHandlers:       &jobHandlers{},
		oauthHandlers:     &oauthHandlers{log: d.Log},
		tradingHandlers:   &tradingHandlers{},
		journalHandlers:   &journalHandlers{},
		realtimeHandlers:  &realtimeHandlers{},
		importHandlers:    &importHandlers{},
		analyticsHandlers: &analyticsHandlers{},
	}
	ops := specOperations(t)
	iface := reflect.TypeFor[gen.StrictServerInterface]()
	checked := 0
	for i := range iface.NumMethod() {
		name := iface.Method(i).Name
		bearer, ok := ops[name]
		if !ok {
			t.Errorf("%s: no operation of that id in openapi.yaml", name)
			continue
		}
		if !bearer {
			continue
		}
		checked++
		err := callStrict(api, name, context.Background())
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.Unauthenticated || ae.Code != identity.CodeTokenMissing {
			t.Errorf("%s without a principal = %v; want Unauthenticated %s", name, err, identity.CodeTokenMissing)
		}
	}
	if checked < len(ops)/2 {
		t.Fatalf("only %d of %d operations declare bearerAuth: the spec walk is wrong", checked, len(ops))
	}
}

// TestHandlersHandOnTheServiceError: with a caller signed in, every
// operation of the trading, journal, import and analytics modules either
// refuses its (empty) request as invalid before it reaches a service, or
// calls the service and returns the service's error itself, so that the
// one problem writer maps it (a NotFound stays a 404 for another user's
// id, a Conflict a 409) and no handler answers success over a failure.
func TestHandlersHandOnTheServiceError(t *testing.T) {
	calls := &serviceCalls{}
	api := &strictServer{
		tradingHandlers:   &tradingHandlers{svc: failingTrading{calls}},
		journalHandlers:   &journalHandlers{svc: failingJournal{calls}, trades: failingTrading{calls}},
		importHandlers:    &importHandlers{svc: failingImports{calls}},
		analyticsHandlers: &analyticsHandlers{figures: failingAnalytics{calls}, reports: failingReports{calls}},
	}
	ctx := identity.WithPrincipal(context.Background(), identity.Principal{UserID: uuid.New(), Role: identity.RoleUser, AAL: 1})
	ops := specOperations(t)
	modules := []reflect.Type{reflect.TypeFor[*tradingHandlers](), reflect.TypeFor[*journalHandlers](),
		reflect.TypeFor[*importHandlers](), reflect.TypeFor[*analyticsHandlers]()}
	reached := 0
	for name, bearer := range ops {
		if !bearer || !slices.ContainsFunc(modules, func(m reflect.Type) bool { _, ok := m.MethodByName(name); return ok }) {
			continue
		}
		err := callStrict(api, name, ctx)
		if called := calls.take(); len(called) > 0 {
			reached++
			if !errors.Is(err, errService) {
				t.Errorf("%s called %v and returned %v; want the service's error", name, called, err)
			}
			continue
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.Invalid {
			t.Errorf("%s with an empty request, no service called: %v; want an Invalid apperr", name, err)
		}
	}
	if reached < 30 {
		t.Fatalf("only %d operations reached a service", reached)
	}
}
