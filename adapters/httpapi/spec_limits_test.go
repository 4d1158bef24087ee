package httpapi

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

// The contract's bounds are the services' own: a client that keeps to
// the spec's maxLength and maxItems is never refused by a tighter check
// behind it, and the spec never promises less than is accepted.
func TestSpecBoundsAreTheServicesBounds(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(SpecYAML())
	if err != nil {
		t.Fatal(err)
	}
	prop := func(schema, name string) *openapi3.Schema {
		t.Helper()
		s := doc.Components.Schemas[schema]
		if s == nil || s.Value.Properties[name] == nil {
			t.Fatalf("no %s.%s in the spec", schema, name)
		}
		return s.Value.Properties[name].Value
	}
	for _, c := range []struct {
		schema, name string
		items        bool // maxItems, else maxLength
		want         int
	}{
		{"AccountInput", "name", false, trading.MaxAccountNameLen}, {"AccountPatch", "name", false, trading.MaxAccountNameLen},
		{"AccountInput", "broker", false, trading.MaxAccountNameLen}, {"AccountPatch", "broker", false, trading.MaxAccountNameLen},
		{"TagInput", "name", false, journal.MaxNameLen}, {"TagPatch", "name", false, journal.MaxNameLen},
		{"PlaybookInput", "name", false, journal.MaxNameLen}, {"PlaybookPatch", "name", false, journal.MaxNameLen},
		{"PlaybookInput", "rules", true, journal.MaxRules}, {"PlaybookPatch", "rules", true, journal.MaxRules},
		{"Rule", "text", false, journal.MaxRuleLen},
	} {
		s := prop(c.schema, c.name)
		var got uint64
		if c.items {
			got = *s.MaxItems
		} else if s.MaxLength != nil {
			got = *s.MaxLength
		}
		if got != uint64(c.want) {
			t.Errorf("%s.%s: the spec says %d, the service %d", c.schema, c.name, got, c.want)
		}
	}
	if items := prop("PlaybookInput", "rules").Items.Value; items.MaxLength == nil || *items.MaxLength != journal.MaxRuleLen {
		t.Errorf("PlaybookInput.rules[]: the spec says %v, the service %d", items.MaxLength, journal.MaxRuleLen)
	}
}
