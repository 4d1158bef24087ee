package httpapi

import (
	"context"
	_ "embed"
	"runtime"
	"time"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/mfa"
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

// handlers implements the generated strict server interface.
type handlers struct {
	health *health.Registry
	build  BuildInfo
	auth   *authHandlers // see auth.go
	mfa    *mfa.Flows    // see mfa.go; nil answers 503
	jobs   JobInspector  // see jobs.go; nil answers 503
	mail   BulkMailer    // see jobs.go; nil answers 503
}

var _ gen.StrictServerInterface = (*handlers)(nil)

func (h *handlers) GetHealth(context.Context, gen.GetHealthRequestObject) (gen.GetHealthResponseObject, error) {
	return gen.GetHealth200JSONResponse{Status: gen.Ok}, nil
}

func (h *handlers) GetReadiness(ctx context.Context, _ gen.GetReadinessRequestObject) (gen.GetReadinessResponseObject, error) {
	rep := ReadinessBody(h.health.Run(ctx))
	if rep.Status == gen.ReadinessStatusDown || rep.Status == gen.ReadinessStatusDraining {
		return gen.GetReadiness503JSONResponse(rep), nil
	}
	return gen.GetReadiness200JSONResponse(rep), nil
}

func (h *handlers) GetVersion(context.Context, gen.GetVersionRequestObject) (gen.GetVersionResponseObject, error) {
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
