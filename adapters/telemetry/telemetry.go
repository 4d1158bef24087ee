// Package telemetry sets up the process's observability: the slog logger with
// request and trace correlation, the OpenTelemetry tracer provider (OTLP export
// when configured) and the meter provider exported to Prometheus.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Config configures logs, traces and metrics.
type Config struct {
	ServiceName    string     // OTEL_SERVICE_NAME, default "tradesense"
	ServiceVersion string     // from the build
	Environment    string     // APP_ENV
	LogLevel       slog.Level // LOG_LEVEL: debug|info|warn|error, default info
	LogFormat      string     // LOG_FORMAT: json|text; json in production, text in development
	// OTLPEndpoint is the base URL of an OTLP/HTTP collector
	// (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://collector:4318). Empty: spans
	// are still created, so logs carry trace IDs, but nothing is exported.
	OTLPEndpoint string
	// SampleRatio is the share of new traces recorded (OTEL_TRACES_SAMPLER_ARG,
	// default 1). Child spans follow their parent's decision.
	SampleRatio float64
}

// Propagator returns the W3C trace-context and baggage propagator.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

func newResource(cfg Config) *resource.Resource {
	return resource.NewSchemaless(
		semconv.ServiceName(cfg.ServiceName),
		semconv.ServiceVersion(cfg.ServiceVersion),
		semconv.DeploymentEnvironmentName(cfg.Environment),
	)
}

// NewTracerProvider returns the process's tracer provider: the SDK's,
// exporting over OTLP/HTTP, when an endpoint is configured; its cleanup
// flushes pending spans, bounded to five seconds. Without an endpoint no
// span leaves the process, and spans only name the request in logs and
// carry the trace context on: idProvider gives them their IDs and sampling
// decision without recording them.
func NewTracerProvider(ctx context.Context, cfg Config, log *slog.Logger) (trace.TracerProvider, func(), error) {
	sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))
	if cfg.OTLPEndpoint == "" {
		return &idProvider{sampler: sampler}, func() {}, nil
	}
	endpoint := strings.TrimRight(cfg.OTLPEndpoint, "/") + "/v1/traces"
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("otlp trace exporter for %s: %w", cfg.OTLPEndpoint, err)
	}
	log.Info("exporting traces over OTLP/HTTP", "endpoint", endpoint)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(newResource(cfg)),
		sdktrace.WithSampler(sampler),
		sdktrace.WithBatcher(exp),
	)
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("flush traces at shutdown", "error", err)
		}
	}
	return tp, cleanup, nil
}

// Metrics is the meter provider and the Prometheus registry it exports to.
type Metrics struct {
	Provider *sdkmetric.MeterProvider
	Registry *prometheus.Registry
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// NewMetrics returns a meter provider whose instruments, with the Go runtime
// and process collectors, are served by Handler.
func NewMetrics(cfg Config, log *slog.Logger) (*Metrics, func(), error) {
	reg := prometheus.NewRegistry()
	if err := errors.Join(
		reg.Register(collectors.NewGoCollector()),
		reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		return nil, nil, fmt.Errorf("register runtime collectors: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	// No exemplars: Handler serves the Prometheus text format, which has
	// none (exemplars need OpenMetrics, not enabled), so the SDK's default
	// (an exemplar offered for every measurement of a sampled trace: the
	// trace context read, a reservoir slot locked and filled) was work on
	// every request that no scrape could see.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(newResource(cfg)),
		sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
	cleanup := func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			log.Warn("shut down meter provider", "error", err)
		}
	}
	return &Metrics{Provider: mp, Registry: reg}, cleanup, nil
}
