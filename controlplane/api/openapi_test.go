package api

import (
	"bufio"
	"bytes"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The module has no YAML parser, so this test checks the document's structure with a small
// scanner: consistent indentation, every path and method it documents is a route and every
// route is documented, and every $ref resolves.

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}

type yamlLine struct {
	n      int
	indent int
	text   string // trimmed, without comments
}

func yamlLines(t *testing.T, doc []byte) []yamlLine {
	t.Helper()
	var out []yamlLine
	sc := bufio.NewScanner(bytes.NewReader(doc))
	n := 0
	inBlock, blockIndent := false, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.Contains(line, "\t") {
			t.Fatalf("openapi.yaml:%d: tab character", n)
		}
		text := strings.TrimSpace(line)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if inBlock && indent > blockIndent {
			continue // inside a literal block scalar
		}
		inBlock = false
		if indent%2 != 0 {
			t.Fatalf("openapi.yaml:%d: indentation %d is not a multiple of 2", n, indent)
		}
		if strings.HasSuffix(text, "|") || strings.HasSuffix(text, ">") {
			inBlock, blockIndent = true, indent
		}
		out = append(out, yamlLine{n: n, indent: indent, text: text})
	}
	return out
}

// section returns the lines under the top-level (or nested) key path, e.g. "paths" or
// "components.schemas".
func section(lines []yamlLine, path string) []yamlLine {
	keys := strings.Split(path, ".")
	from, to, depth := 0, len(lines), 0
	for _, k := range keys {
		found := false
		for i := from; i < to; i++ {
			if lines[i].indent == depth*2 && lines[i].text == k+":" {
				from, found = i+1, true
				for j := from; j < to; j++ {
					if lines[j].indent <= depth*2 {
						to = j
						break
					}
				}
				break
			}
		}
		if !found {
			return nil
		}
		depth++
	}
	return lines[from:to]
}

func keysAt(lines []yamlLine, indent int) []string {
	var out []string
	for _, l := range lines {
		if l.indent == indent {
			k, _, _ := strings.Cut(l.text, ":")
			out = append(out, strings.Trim(k, `"`))
		}
	}
	return out
}

func TestOpenAPIDocumentsExactlyTheRoutes(t *testing.T) {
	lines := yamlLines(t, openAPI)
	if len(lines) == 0 || lines[0].text != "openapi: 3.0.3" {
		t.Fatalf("openapi.yaml must start with the openapi version")
	}
	for _, top := range keysAt(lines, 0) {
		switch top {
		case "openapi", "info", "servers", "security", "paths", "components":
		default:
			t.Errorf("unknown top-level key %q", top)
		}
	}
	documented := map[string]bool{}
	paths := section(lines, "paths")
	var cur string
	for _, l := range paths {
		switch l.indent {
		case 2:
			cur = strings.TrimSuffix(l.text, ":")
		case 4:
			k, _, _ := strings.Cut(l.text, ":")
			if httpMethods[k] {
				documented[strings.ToUpper(k)+" "+cur] = true
			} else if k != "parameters" && k != "summary" && k != "description" {
				t.Errorf("openapi.yaml:%d: %q under %s is neither a method nor parameters", l.n, k, cur)
			}
		}
	}
	h := &handler{}
	served := map[string]bool{}
	for _, rt := range h.routes() {
		for m := range rt.methods {
			served[m+" "+rt.pattern] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.yaml documents %s, which is not served", r)
		}
	}
	if t.Failed() {
		t.Logf("served: %v", sortedKeys(served))
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	lines := yamlLines(t, openAPI)
	defined := map[string]bool{}
	for _, kind := range []string{"schemas", "parameters", "responses", "headers", "securitySchemes"} {
		for _, name := range keysAt(section(lines, "components."+kind), 4) {
			defined["#/components/"+kind+"/"+name] = true
		}
	}
	refRe := regexp.MustCompile(`\$ref: "([^"]+)"`)
	refs := 0
	for _, l := range lines {
		for _, m := range refRe.FindAllStringSubmatch(l.text, -1) {
			refs++
			if !defined[m[1]] {
				t.Errorf("openapi.yaml:%d: $ref %s is not defined", l.n, m[1])
			}
		}
	}
	if refs < 20 {
		t.Fatalf("only %d $refs found: the scanner is broken", refs)
	}
	// Every error code the API sends is in the Error schema's enum.
	for _, code := range []string{CodeUnauthorized, CodeInvalid, CodeNotFound, CodeMethodNotAllowed, CodeRevisionConflict,
		CodeAlreadyExists, CodeBodyTooLarge, CodeUnsupportedMediaType, CodeRevisionRequired, CodeInternal, CodeUnavailable,
		CodeGateRefused, CodeInShadow, CodeNotConfigured, CodeClickHouse, CodeTimeout,
		CodeUnknownTenant, CodeBadRange, CodeBadPartition, CodeBadState, CodeChanged, CodeNotReady, CodeKafka} {
		if !bytes.Contains(openAPI, []byte(code)) {
			t.Errorf("error code %s is not documented", code)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func FuzzExpectedRevision(f *testing.F) {
	for _, s := range []string{`"1"`, `*`, `W/"7"`, `"-1"`, `"99999999999999999999"`, `"1", "2"`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, _ := newRequestWithIfMatch(v)
		rev, err := expectedRevision(r, nil, true, 1)
		if err == nil && rev < 0 {
			t.Fatalf("If-Match %q gave revision %d", v, rev)
		}
	})
}
