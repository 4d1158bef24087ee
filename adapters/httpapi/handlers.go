package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/health"
)

//go:embed openapi.yaml
var specYAML []byte

// SpecYAML returns the OpenAPI document the server implements.
func SpecYAML() []byte { return specYAML }

// BuildInfo describes the running build; the linker stamps it into main.
type BuildInfo struct {
	Version string
	Commit  string
	Date    string
}

// strictServer implements the generated strict server interface: one
// handler struct per module, embedded so that their methods together are
// the API. A module's handlers depend only on the consumer interfaces its
// file declares (identity.go, mfa.go, jobs.go, oauth.go, trading.go, journal.go, realtime.go, imports.go), so a handler test fakes
// just what it calls; New refuses to start without every one of them.
//
// Handlers receive the request's context (see requestScoped) and may
// return their success response together with the service's error: the
// strict server writes the response only when the error is nil.
type strictServer struct {
	*systemHandlers
	*identityHandlers
	*mfaHandlers
	*jobHandlers
	*oauthHandlers
	*tradingHandlers
	*journalHandlers
	*realtimeHandlers
	*importHandlers
	*analyticsHandlers
}

var _ gen.StrictServerInterface = (*strictServer)(nil)

// systemHandlers serve the probes and the version.
type systemHandlers struct {
	health *health.Registry
	build  BuildInfo
	log    *slog.Logger
}

// logReadiness logs each failing check with its error and details: what
// the public readiness answer leaves out. Warn for a required check, info
// for an optional one (the answer is then "degraded", still 200).
func (h *systemHandlers) logReadiness(ctx context.Context, rep health.Report) {
	if h.log == nil {
		return
	}
	for _, c := range rep.Checks {
		if c.Status == health.StatusUp {
			continue
		}
		level := slog.LevelInfo
		if c.Required {
			level = slog.LevelWarn
		}
		h.log.Log(ctx, level, "readiness check failing", "check", c.Name, "required", c.Required, "error", c.Error, "details", c.Details)
	}
}

func (h *systemHandlers) GetHealth(context.Context, gen.GetHealthRequestObject) (gen.GetHealthResponseObject, error) {
	return healthOK{}, nil
}

// healthOK is gen.GetHealth200JSONResponse{Status: gen.Ok} written as the
// generated code writes it (the same Content-Type, status and body, the
// body encoded by that type once, at start) without encoding the constant
// body again on every probe.
type healthOK struct{}

var (
	healthOKBody = mustJSONLine(gen.GetHealth200JSONResponse{Status: gen.Ok})
	_            = gen.GetHealthResponseObject(healthOK{})
)

func (healthOK) VisitGetHealthResponse(w http.ResponseWriter) error {
	// A slice of this response's own (the key is already canonical): a
	// shared one would be one global every response's header aliases, for
	// any later code that writes a value in place to corrupt (and race on).
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(healthOKBody)
	return err
}

// mustJSONLine is v as json.Encoder writes it (with the newline).
func mustJSONLine(v any) []byte {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func (h *systemHandlers) GetReadiness(ctx context.Context, _ gen.GetReadinessRequestObject) (gen.GetReadinessResponseObject, error) {
	full := h.health.Run(ctx)
	h.logReadiness(ctx, full)
	rep := ReadinessBody(full)
	if rep.Status == gen.ReadinessStatusDown || rep.Status == gen.ReadinessStatusDraining {
		return gen.GetReadiness503JSONResponse(rep), nil
	}
	return gen.GetReadiness200JSONResponse(rep), nil
}

func (h *systemHandlers) GetVersion(context.Context, gen.GetVersionRequestObject) (gen.GetVersionResponseObject, error) {
	return gen.GetVersion200JSONResponse{
		Version:   h.build.Version,
		Commit:    h.build.Commit,
		BuildDate: h.build.Date,
		GoVersion: runtime.Version(),
	}, nil
}

// ReadinessBody renders a health report as the API's Readiness document:
// the public answer, up or down per check, without the checks' errors and
// details (see logReadiness).
func ReadinessBody(rep health.Report) gen.Readiness {
	out := gen.Readiness{Status: gen.ReadinessStatus(rep.Status), Checks: make(map[string]gen.CheckResult, len(rep.Checks))}
	for _, c := range rep.Checks {
		r := gen.CheckResult{
			Status:    gen.CheckResultStatus(c.Status),
			Required:  c.Required,
			LatencyMs: float64(c.Latency) / float64(time.Millisecond),
		}
		out.Checks[c.Name] = r
	}
	return out
}
