package httpapi

import (
	"context"
	_ "embed"
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
// file declares (identity.go, mfa.go, jobs.go, oauth.go, trading.go, journal.go), so a handler test fakes
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
	*analyticsHandlers
}

var _ gen.StrictServerInterface = (*strictServer)(nil)

// systemHandlers serve the probes and the version.
type systemHandlers struct {
	health *health.Registry
	build  BuildInfo
}

func (h *systemHandlers) GetHealth(context.Context, gen.GetHealthRequestObject) (gen.GetHealthResponseObject, error) {
	return gen.GetHealth200JSONResponse{Status: gen.Ok}, nil
}

func (h *systemHandlers) GetReadiness(ctx context.Context, _ gen.GetReadinessRequestObject) (gen.GetReadinessResponseObject, error) {
	rep := ReadinessBody(h.health.Run(ctx))
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

// ReadinessBody renders a health report as the API's Readiness document.
func ReadinessBody(rep health.Report) gen.Readiness {
	out := gen.Readiness{Status: gen.ReadinessStatus(rep.Status), Checks: make(map[string]gen.CheckResult, len(rep.Checks))}
	for _, c := range rep.Checks {
		r := gen.CheckResult{
			Status:    gen.CheckResultStatus(c.Status),
			Required:  c.Required,
			LatencyMs: float64(c.Latency) / float64(time.Millisecond),
		}
		if c.Error != "" {
			r.Error = &c.Error
		}
		if c.Details != nil {
			r.Details = &c.Details
		}
		out.Checks[c.Name] = r
	}
	return out
}
