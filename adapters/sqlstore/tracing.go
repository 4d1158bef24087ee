package sqlstore

import (
	"errors"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// tracing is a GORM plugin that wraps every statement in a client span
// carrying the SQL text with placeholders, never the parameter values.
//
// It does what gorm.io/plugin/opentelemetry/tracing does with
// WithoutQueryVariables, written here because that package imports the
// MySQL and ClickHouse GORM drivers (and registers their database/sql
// drivers) into any binary that uses it, and reads the global OTel
// providers for its pool metrics; this adapter exports its own.
type tracing struct {
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

// The span attribute names (OpenTelemetry database semantic conventions).
const (
	attrDBSystem     = attribute.Key("db.system.name")
	attrDBQuery      = attribute.Key("db.query.text")
	attrDBOperation  = attribute.Key("db.operation.name")
	attrDBCollection = attribute.Key("db.collection.name")
	attrRowsAffected = attribute.Key("db.response.returned_rows")
)

func newTracing(tp trace.TracerProvider, dialect Dialect) *tracing {
	system := "postgresql"
	if dialect == SQLite {
		system = "sqlite"
	}
	return &tracing{
		tracer: tp.Tracer("github.com/tradesense/tradesense/adapters/sqlstore"),
		attrs:  []attribute.KeyValue{attrDBSystem.String(system)},
	}
}

func (*tracing) Name() string { return "tradesense:tracing" }

// Initialize registers before and after callbacks around each GORM
// operation.
func (p *tracing) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	type registrar interface {
		Register(name string, fn func(*gorm.DB)) error
	}
	hooks := []struct {
		before, after registrar
		gormName      string
		spanName      string
	}{
		{cb.Create().Before("gorm:create"), cb.Create().After("gorm:create"), "create", "gorm.Create"},
		{cb.Query().Before("gorm:query"), cb.Query().After("gorm:query"), "query", "gorm.Query"},
		{cb.Update().Before("gorm:update"), cb.Update().After("gorm:update"), "update", "gorm.Update"},
		{cb.Delete().Before("gorm:delete"), cb.Delete().After("gorm:delete"), "delete", "gorm.Delete"},
		{cb.Row().Before("gorm:row"), cb.Row().After("gorm:row"), "row", "gorm.Row"},
		{cb.Raw().Before("gorm:raw"), cb.Raw().After("gorm:raw"), "raw", "gorm.Raw"},
	}
	for _, h := range hooks {
		if err := h.before.Register("tradesense:trace_before_"+h.gormName, p.before(h.spanName)); err != nil {
			return err
		}
		if err := h.after.Register("tradesense:trace_after_"+h.gormName, p.after); err != nil {
			return err
		}
	}
	return nil
}

func (p *tracing) before(name string) func(*gorm.DB) {
	return func(tx *gorm.DB) {
		_, span := p.tracer.Start(tx.Statement.Context, name, trace.WithSpanKind(trace.SpanKindClient))
		// Keep the span beside the statement, not in its context: the
		// caller's context must come back unchanged.
		tx.InstanceSet(spanKeyName, span)
	}
}

const spanKeyName = "tradesense:span"

func (p *tracing) after(tx *gorm.DB) {
	v, ok := tx.InstanceGet(spanKeyName)
	if !ok {
		return
	}
	span, ok := v.(trace.Span)
	if !ok {
		return
	}
	defer span.End()
	if !span.IsRecording() {
		return
	}
	query := tx.Statement.SQL.String() // placeholders only: Vars are never read
	attrs := make([]attribute.KeyValue, 0, len(p.attrs)+4)
	attrs = append(attrs, p.attrs...)
	attrs = append(attrs, attrDBQuery.String(query))
	if op := firstWord(query); op != "" {
		attrs = append(attrs, attrDBOperation.String(op))
	}
	if tx.Statement.Table != "" {
		attrs = append(attrs, attrDBCollection.String(tx.Statement.Table))
	}
	if tx.Statement.RowsAffected >= 0 {
		attrs = append(attrs, attrRowsAffected.Int64(tx.Statement.RowsAffected))
	}
	span.SetAttributes(attrs...)
	if err := tx.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

func firstWord(q string) string {
	q = strings.TrimLeft(q, " \t\n(")
	if i := strings.IndexAny(q, " \t\n("); i > 0 {
		q = q[:i]
	}
	return strings.ToUpper(q)
}
