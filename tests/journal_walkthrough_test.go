package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/identity"
)

// TestJournalWalkthrough runs the curl walk-through of docs/journal.md,
// read from the file, against the api program, and checks every
// `# expect:` line: a change of the API that the page does not follow
// fails here. The commands are run by a small interpreter of the shell
// they are written in (variables, quotes, `$(curl … | jq -r PATH)`), with
// curl's -X, -H, -d, -F and -o; `users create` is the identity service's
// CreateUser, as the CLI calls it; `@file` uploads are a generated PNG.
func TestJournalWalkthrough(t *testing.T) {
	doc, err := os.ReadFile("../docs/journal.md")
	if err != nil {
		t.Fatal(err)
	}
	script := walkthroughScript(t, string(doc))
	journalStacks(t, func(t *testing.T, st *stack) {
		w := &walker{t: t, st: st, env: map[string]string{}}
		w.run(script)
		if w.curls < 10 || w.expects < 8 {
			t.Fatalf("ran %d curl commands and %d expectations: the walk-through lost its steps", w.curls, w.expects)
		}
	})
}

var reWalkthrough = regexp.MustCompile("(?s)<!-- walkthrough -->\\s*```sh\\n(.*?)```\\s*<!-- /walkthrough -->")

func walkthroughScript(t *testing.T, doc string) string {
	t.Helper()
	m := reWalkthrough.FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/journal.md has no <!-- walkthrough --> ```sh block")
	}
	return m[1]
}

type walker struct {
	t       *testing.T
	st      *stack
	env     map[string]string
	last    *resp
	curls   int
	expects int
}

// run executes the script command by command.
func (w *walker) run(src string) {
	for len(src) > 0 {
		var words []string
		var comment string
		words, comment, src = w.lex(src)
		switch {
		case comment != "":
			if rest, ok := strings.CutPrefix(comment, "expect:"); ok {
				w.expect(strings.TrimSpace(rest))
			}
		case len(words) > 0:
			w.exec(words)
		}
	}
}

var reAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func (w *walker) exec(words []string) {
	w.t.Helper()
	// Leading NAME=value words: an assignment alone, or the environment
	// of the command that follows.
	local := map[string]string{}
	for len(words) > 0 && reAssign.MatchString(words[0]) {
		k, v, _ := strings.Cut(words[0], "=")
		local[k] = v
		words = words[1:]
	}
	if len(words) == 0 {
		for k, v := range local {
			w.env[k] = v
		}
		return
	}
	switch {
	case words[0] == "curl":
		r := w.curl(words[1:])
		w.last = &r
	case strings.Contains(strings.Join(words, " "), "users create"):
		email := ""
		for i, a := range words {
			if a == "--email" && i+1 < len(words) {
				email = words[i+1]
			}
		}
		if _, err := w.st.svc.CreateUser(context.Background(), email, local["TRADESENSE_PASSWORD"], identity.RoleUser); err != nil {
			w.t.Fatalf("users create: %v", err)
		}
	default:
		w.t.Fatalf("the walk-through runs %q, which this test does not know", words[0])
	}
}

func (w *walker) curl(args []string) resp {
	w.t.Helper()
	w.curls++
	method, url := "", ""
	var hdr [][2]string
	var data *string
	var form [][2]string
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			i++
			if i >= len(args) {
				w.t.Fatalf("curl %s without a value", a)
			}
			return args[i]
		}
		switch a {
		case "-s", "-sS":
		case "-X":
			method = next()
		case "-H":
			k, v, _ := strings.Cut(next(), ":")
			hdr = append(hdr, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		case "-d", "--data":
			d := next()
			data = &d
		case "-F":
			k, v, _ := strings.Cut(next(), "=")
			form = append(form, [2]string{k, v})
		case "-o":
			next()
		default:
			if strings.HasPrefix(a, "-") {
				w.t.Fatalf("curl option %s is not known to the walk-through test", a)
			}
			url = a
		}
	}
	var body *bytes.Buffer
	ct := ""
	switch {
	case form != nil:
		body = &bytes.Buffer{}
		mw := multipart.NewWriter(body)
		for _, f := range form {
			if name, ok := strings.CutPrefix(f[1], "@"); ok {
				fw, _ := mw.CreateFormFile(f[0], name)
				_, _ = fw.Write(testPNG(w.t, 32, 24))
			} else {
				_ = mw.WriteField(f[0], f[1])
			}
		}
		_ = mw.Close()
		ct = mw.FormDataContentType()
		if method == "" {
			method = "POST"
		}
	case data != nil:
		body = bytes.NewBufferString(*data)
		if method == "" {
			method = "POST"
		}
	}
	if method == "" {
		method = "GET"
	}
	url = strings.Replace(url, "http://localhost:8000", w.st.url, 1)
	var req *http.Request
	if body != nil {
		req, _ = http.NewRequest(method, url, body)
	} else {
		req, _ = http.NewRequest(method, url, nil)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, h := range hdr {
		req.Header.Set(h[0], h[1])
	}
	return w.st.send(req)
}

// expect checks "STATUS [PATH VALUE]…" against the last answer; VALUE is
// "a string", $VAR or a number.
func (w *walker) expect(spec string) {
	w.t.Helper()
	w.expects++
	if w.last == nil {
		w.t.Fatalf("expect %q before any curl", spec)
	}
	toks := splitExpect(spec)
	status, err := strconv.Atoi(toks[0])
	if err != nil || w.last.status != status {
		w.t.Fatalf("expect %s: got %d\n%s", spec, w.last.status, w.last.raw)
	}
	var doc any
	_ = json.Unmarshal([]byte(w.last.raw), &doc)
	for i := 1; i+1 < len(toks); i += 2 {
		path, want := toks[i], toks[i+1]
		got, ok := jqPath(doc, path)
		if !ok {
			w.t.Fatalf("expect %s: no %s in\n%s", spec, path, w.last.raw)
		}
		switch {
		case strings.HasPrefix(want, `"`):
			if s, _ := got.(string); s != strings.Trim(want, `"`) {
				w.t.Fatalf("expect %s: %s = %#v\n%s", spec, path, got, w.last.raw)
			}
		case strings.HasPrefix(want, "$"):
			if s, _ := got.(string); s != w.env[want[1:]] || s == "" {
				w.t.Fatalf("expect %s: %s = %#v, want %s = %q", spec, path, got, want, w.env[want[1:]])
			}
		default:
			if fmt.Sprint(got) != want {
				w.t.Fatalf("expect %s: %s = %#v\n%s", spec, path, got, w.last.raw)
			}
		}
	}
}

func splitExpect(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.Index(s[1:], `"`) + 2
			out = append(out, s[:end])
			s = s[end:]
			continue
		}
		tok, rest, _ := strings.Cut(s, " ")
		out = append(out, tok)
		s = rest
	}
	return out
}

var rePathSeg = regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]`)

// jqPath evaluates jq's .a.b[0].c on a decoded JSON document.
func jqPath(doc any, path string) (any, bool) {
	cur := doc
	for _, m := range rePathSeg.FindAllStringSubmatch(path, -1) {
		if m[1] != "" {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = obj[m[1]]; !ok {
				return nil, false
			}
			continue
		}
		arr, ok := cur.([]any)
		n, _ := strconv.Atoi(m[2])
		if !ok || n >= len(arr) {
			return nil, false
		}
		cur = arr[n]
	}
	return cur, true
}

// lex reads one command (its words, expanded) or one comment from src
// and returns the rest. It knows what the walk-through uses: words,
// '…' and "…" (with $VAR), $VAR, $(…), backslash-newline, # comments.
func (w *walker) lex(src string) (words []string, comment, rest string) {
	w.t.Helper()
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
		case c == '\n':
			flush()
			if len(words) > 0 {
				return words, "", src[i+1:]
			}
			i++
		case c == ' ' || c == '\t':
			flush()
			i++
		case c == '#' && !inWord:
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			if len(words) > 0 {
				w.t.Fatalf("a comment after a command: %q", src[i:i+end])
			}
			return nil, strings.TrimSpace(src[i+1 : i+end]), src[i+end:]
		case c == '\'':
			end := strings.IndexByte(src[i+1:], '\'')
			if end < 0 {
				w.t.Fatal("unterminated '")
			}
			cur.WriteString(src[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '$' {
					v, n := w.dollar(src[j:])
					cur.WriteString(v)
					j += n
					continue
				}
				cur.WriteByte(src[j])
				j++
			}
			inWord = true
			i = j + 1
		case c == '$':
			v, n := w.dollar(src[i:])
			cur.WriteString(v)
			inWord = true
			i += n
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	flush()
	return words, "", ""
}

var reVar = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)`)

// dollar expands $VAR or $(curl … | jq -r PATH) at the start of s and
// says how many bytes it took.
func (w *walker) dollar(s string) (string, int) {
	w.t.Helper()
	if m := reVar.FindStringSubmatch(s); m != nil {
		v, ok := w.env[m[1]]
		if !ok {
			w.t.Fatalf("$%s is not set", m[1])
		}
		return v, len(m[0])
	}
	if !strings.HasPrefix(s, "$(") {
		return "$", 1
	}
	depth, quote := 0, byte(0)
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return w.subst(s[2:j]), j + 1
			}
		}
	}
	w.t.Fatal("unterminated $(")
	return "", 0
}

// subst runs `curl … | jq -r PATH` and returns PATH of its answer.
func (w *walker) subst(inner string) string {
	w.t.Helper()
	pipe := strings.LastIndex(inner, "| jq -r ")
	if pipe < 0 {
		w.t.Fatalf("$(%s): only curl … | jq -r PATH is supported", inner)
	}
	words, _, _ := w.lex(inner[:pipe] + "\n")
	if len(words) == 0 || words[0] != "curl" {
		w.t.Fatalf("$(%s): not a curl command", inner)
	}
	r := w.curl(words[1:])
	if r.status >= 300 {
		w.t.Fatalf("$(%s): %d %s", inner, r.status, r.raw)
	}
	var doc any
	_ = json.Unmarshal([]byte(r.raw), &doc)
	v, ok := jqPath(doc, strings.Trim(strings.TrimSpace(inner[pipe+len("| jq -r "):]), `'`))
	s, _ := v.(string)
	if !ok || s == "" {
		w.t.Fatalf("$(%s): no value in %s", inner, r.raw)
	}
	return s
}
