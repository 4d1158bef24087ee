package notifications_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/notifications"
)

// TestEveryTemplateRendersWithItsSample renders every embedded template —
// including those other features add — with its NAME.sample.json.
func TestEveryTemplateRendersWithItsSample(t *testing.T) {
	tpl, err := notifications.DefaultTemplates()
	if err != nil {
		t.Fatal(err)
	}
	names := tpl.Names()
	if len(names) == 0 {
		t.Fatal("no templates embedded")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data := map[string]any{"AppName": "TradeSense", "PublicURL": "https://app.example.com"}
			for k, v := range tpl.Sample(name) {
				data[k] = v
			}
			r, err := tpl.Render(name, data)
			if err != nil {
				t.Fatalf("render %s: %v (ship the data it needs in templates/%s.sample.json)", name, err, name)
			}
			if r.Subject == "" || strings.TrimSpace(r.Text) == "" || !strings.Contains(r.HTML, "<html") {
				t.Fatalf("render %s: empty part: %+v", name, r)
			}
			if !strings.Contains(r.Text, "TradeSense") || !strings.Contains(r.HTML, "https://app.example.com") {
				t.Fatalf("render %s: the layout is missing", name)
			}
			if strings.Contains(r.Text+r.HTML+r.Subject, "<no value>") {
				t.Fatalf("render %s: a value is missing", name)
			}
		})
	}
}

func TestGenericTemplateEscapesHTMLAndKeepsParagraphs(t *testing.T) {
	tpl, err := notifications.DefaultTemplates()
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render("generic", map[string]any{"AppName": "TradeSense", "PublicURL": "http://x",
		"Subject": "Hello <b>", "Body": "one <script>alert(1)</script>\n\ntwo"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;") || strings.Count(r.HTML, "<p>") != 2 {
		t.Fatalf("html = %s", r.HTML)
	}
	if r.Subject != "Hello <b>" || !strings.Contains(r.Text, "one <script>") {
		t.Fatalf("text parts are not HTML-escaped: %q %q", r.Subject, r.Text)
	}
}

func TestRenderErrors(t *testing.T) {
	tpl, _ := notifications.DefaultTemplates()
	if _, err := tpl.Render("nope", nil); apperr.CodeOf(err) != notifications.CodeUnknownTemplate {
		t.Fatalf("unknown template: %v", err)
	}
	if _, err := tpl.Render("generic", map[string]any{"AppName": "a", "PublicURL": "b"}); apperr.CodeOf(err) != notifications.CodeTemplateData || !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("missing data: %v", err)
	}
	if _, err := tpl.Render("generic", map[string]any{"AppName": "a", "PublicURL": "b", "Subject": "two\nlines", "Body": "x"}); apperr.CodeOf(err) != notifications.CodeTemplateData {
		t.Fatalf("two-line subject: %v", err)
	}
}

func TestParseTemplatesRejectsIncompleteTemplates(t *testing.T) {
	fsys := fstest.MapFS{
		"layout.txt.tmpl":    {Data: []byte(`{{template "content" .}}`)},
		"layout.html.tmpl":   {Data: []byte(`<html>{{template "content" .}}</html>`)},
		"half.subject.tmpl":  {Data: []byte(`Hi`)},
		"half.txt.tmpl":      {Data: []byte(`text`)},
		"whole.subject.tmpl": {Data: []byte(`Hi`)},
		"whole.txt.tmpl":     {Data: []byte(`text`)},
		"whole.html.tmpl":    {Data: []byte(`<p>x</p>`)},
	}
	if _, err := notifications.ParseTemplates(fsys); err == nil || !strings.Contains(err.Error(), "half") {
		t.Fatalf("a template without its html part parsed: %v", err)
	}
	delete(fsys, "half.subject.tmpl")
	tpl, err := notifications.ParseTemplates(fsys)
	if err != nil || len(tpl.Names()) != 1 || !tpl.Has("whole") {
		t.Fatalf("parse = %v, %v", tpl, err)
	}
}
