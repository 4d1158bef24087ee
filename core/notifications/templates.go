package notifications

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"sort"
	"strings"
	texttemplate "text/template"

	"github.com/tradesense/tradesense/core/apperr"
)

//go:embed templates
var embedded embed.FS

// Error codes of the templates.
const (
	CodeUnknownTemplate = "email_template_unknown"
	CodeTemplateData    = "email_template_data"
)

// Rendered is a template's output for one recipient.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Templates are the email templates. For a template NAME the directory
// holds NAME.subject.tmpl (text/template, one line), NAME.txt.tmpl
// (text/template) and NAME.html.tmpl (html/template), each the "content"
// of the shared layout.txt.tmpl or layout.html.tmpl, and optionally
// NAME.sample.json, the sample data the template tests render it with.
// Data keys a template uses must be present (missingkey=error).
type Templates struct {
	names   []string
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
	samples map[string]map[string]any
}

// funcs are the helpers every template may use.
var funcs = map[string]any{
	// paragraphs splits text on blank lines.
	"paragraphs": func(s string) []string {
		var out []string
		for p := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	},
	"upper": strings.ToUpper,
}

// DefaultTemplates parses the templates embedded in the binary.
func DefaultTemplates() (*Templates, error) {
	sub, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, err
	}
	return ParseTemplates(sub)
}

// ParseTemplates parses the templates at the root of fsys. A template
// missing one of its three files fails.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	read := func(name string) (string, error) {
		b, err := fs.ReadFile(fsys, name)
		return string(b), err
	}
	layoutTxt, err := read("layout.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	layoutHTML, err := read("layout.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	subjects, err := fs.Glob(fsys, "*.subject.tmpl")
	if err != nil {
		return nil, err
	}
	t := &Templates{subject: map[string]*texttemplate.Template{}, text: map[string]*texttemplate.Template{},
		html: map[string]*htmltemplate.Template{}, samples: map[string]map[string]any{}}
	var errs []error
	for _, s := range subjects {
		name := strings.TrimSuffix(s, ".subject.tmpl")
		if err := t.parseOne(read, name, layoutTxt, layoutHTML); err != nil {
			errs = append(errs, fmt.Errorf("email template %s: %w", name, err))
			continue
		}
		t.names = append(t.names, name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Strings(t.names)
	return t, nil
}

func (t *Templates) parseOne(read func(string) (string, error), name, layoutTxt, layoutHTML string) error {
	subj, err := read(name + ".subject.tmpl")
	if err != nil {
		return err
	}
	txt, err := read(name + ".txt.tmpl")
	if err != nil {
		return err
	}
	html, err := read(name + ".html.tmpl")
	if err != nil {
		return err
	}
	st, err := texttemplate.New(name + ".subject").Option("missingkey=error").Funcs(funcs).Parse(strings.TrimSpace(subj))
	if err != nil {
		return err
	}
	tt, err := texttemplate.New("layout").Option("missingkey=error").Funcs(funcs).Parse(layoutTxt)
	if err == nil {
		_, err = tt.New("content").Parse(txt)
	}
	if err != nil {
		return err
	}
	ht, err := htmltemplate.New("layout").Option("missingkey=error").Funcs(funcs).Parse(layoutHTML)
	if err == nil {
		_, err = ht.New("content").Parse(html)
	}
	if err != nil {
		return err
	}
	t.subject[name], t.text[name], t.html[name] = st, tt, ht
	if sample, err := read(name + ".sample.json"); err == nil {
		var data map[string]any
		if err := json.Unmarshal([]byte(sample), &data); err != nil {
			return fmt.Errorf("%s.sample.json: %w", name, err)
		}
		t.samples[name] = data
	}
	return nil
}

// Names lists the templates, sorted.
func (t *Templates) Names() []string { return append([]string(nil), t.names...) }

// Has reports whether a template exists.
func (t *Templates) Has(name string) bool { _, ok := t.subject[name]; return ok }

// Sample returns a template's sample data (nil when it ships none).
func (t *Templates) Sample(name string) map[string]any { return t.samples[name] }

// Render renders a template with data. Fails with apperr.Invalid
// "email_template_unknown" for an unknown name and "email_template_data"
// when the data lacks a key the template uses or the subject is not one
// line.
func (t *Templates) Render(name string, data map[string]any) (Rendered, error) {
	st, ok := t.subject[name]
	if !ok {
		return Rendered{}, apperr.New(apperr.Invalid, CodeUnknownTemplate, fmt.Sprintf("unknown email template %q", name))
	}
	bad := func(err error) (Rendered, error) {
		return Rendered{}, apperr.Wrap(err, apperr.Invalid, CodeTemplateData, fmt.Sprintf("email template %q cannot render with this data", name))
	}
	var subj, txt, html bytes.Buffer
	if err := st.Execute(&subj, data); err != nil {
		return bad(err)
	}
	if err := t.text[name].ExecuteTemplate(&txt, "layout", data); err != nil {
		return bad(err)
	}
	if err := t.html[name].ExecuteTemplate(&html, "layout", data); err != nil {
		return bad(err)
	}
	s := strings.TrimSpace(subj.String())
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return bad(fmt.Errorf("the subject must be one non-empty line, got %q", s))
	}
	return Rendered{Subject: s, Text: txt.String(), HTML: html.String()}, nil
}
