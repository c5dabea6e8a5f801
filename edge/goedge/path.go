package goedge

import (
	"net/url"
	"strings"
)

// Path normalization as Envoy's HTTP connection manager does it with normalize_path and
// merge_slashes (and the default path_with_escaped_slashes_action, KEEP_UNCHANGED), on the
// path as the client sent it, before the filter and the route see it:
//
//  1. normalize_path: Envoy's canonicalizer (its snapshot of Chromium's URL path
//     canonicalization, source/common/chromium_url/url_canon_path.cc): percent-encoded
//     unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~") are decoded, "%6C" is "l";
//     other escapes are kept as sent, hex case included ("%2F", "%2f" and "%5C" stay, as
//     KEEP_UNCHANGED wants); a backslash is a slash; dot segments are removed (RFC 3986 5.2.4,
//     "%2E" counting as a dot); characters a path may not hold (controls, space, `"#<>?^{|}`,
//     backquote, DEL, non-ASCII bytes) are percent-encoded; an escaped or raw NUL fails the
//     request (400).
//  2. merge_slashes: runs of slashes become one.
//
// Where it differs from Envoy: a "%" that does not start a valid escape is encoded as "%25"
// (Envoy keeps it, and escapes only nested escapes that would decode into a new one); Go's HTTP
// server refuses such a request (400) before the edge sees it, so the difference shows only to
// direct callers of normalizePath, and it makes the result a valid escaped path every time.

// Character classes of the path canonicalizer.
const (
	pathPass     = iota // copied as is, and kept escaped when escaped
	pathUnescape        // an unreserved character: decoded when escaped
	pathEscape          // percent-encoded when raw, kept escaped when escaped
	pathInvalid         // NUL: the path is refused
)

// pathClass is the class of each byte, after Chromium's kPathCharLookup ("." and "%" and "\"
// are handled before it is looked at).
var pathClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == 0:
			t[c] = pathInvalid
		case c < 0x20 || c >= 0x7f:
			t[c] = pathEscape
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			t[c] = pathUnescape
		case strings.IndexByte(" \"#%<>?\\^`{|}", byte(c)) >= 0:
			t[c] = pathEscape
		default:
			t[c] = pathPass
		}
	}
	return t
}()

// normalizePath returns the escaped path p normalized as Envoy's normalize_path (dots) and
// merge_slashes (merge) do, see above. A path that does not start with "/" ("*", an empty
// path) is returned unchanged. A path that Envoy refuses (a NUL) is returned normalized
// otherwise; normalizeRequestPath says it is refused.
func normalizePath(p string, dots, merge bool) string {
	n, _ := normalizeRequestPath(p, dots, merge)
	return n
}

// normalizeRequestPath is normalizePath, and false when Envoy refuses the path (400).
func normalizeRequestPath(p string, dots, merge bool) (string, bool) {
	if p == "" || p[0] != '/' {
		return p, true
	}
	ok := true
	if dots {
		p, ok = canonicalPath(p)
	}
	if merge && strings.Contains(p, "//") {
		var b strings.Builder
		b.Grow(len(p))
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && i > 0 && p[i-1] == '/' {
				continue
			}
			b.WriteByte(p[i])
		}
		p = b.String()
	}
	return p, ok
}

// canonicalPath is Envoy's normalize_path on p, which starts with "/": Chromium's
// CanonicalizePath (DoPartialPath) on one path. It returns p itself when p is already
// canonical.
func canonicalPath(p string) (string, bool) {
	if isCanonical(p) {
		return p, true
	}
	out := make([]byte, 0, len(p)+8)
	ok := true
	for i := 0; i < len(p); i++ {
		c := p[i]
		if n := dotAt(p, i); n > 0 {
			if out[len(out)-1] != '/' {
				out = append(out, '.') // part of a segment name
				i += n - 1
				continue
			}
			kind, used := afterDot(p, i+n)
			switch kind {
			case dotName:
				out = append(out, '.')
			case dotCurrent:
				i += used
			case dotParent:
				out = backUpToPreviousSlash(out)
				i += used
			}
			i += n - 1
			continue
		}
		switch {
		case c == '\\':
			out = append(out, '/')
		case c == '%':
			v, valid := unhexAt(p, i+1)
			switch {
			case !valid:
				out = append(out, "%25"...)
			case pathClass[v] == pathUnescape:
				out = append(out, v)
				i += 2
			default:
				if pathClass[v] == pathInvalid {
					ok = false
				}
				out = append(out, p[i:i+3]...)
				i += 2
			}
		case pathClass[c] == pathEscape:
			out = append(out, '%', upperHex[c>>4], upperHex[c&0xf])
		case pathClass[c] == pathInvalid:
			out = append(out, '%', '0', '0')
			ok = false
		default:
			out = append(out, c)
		}
	}
	return string(out), ok
}

const upperHex = "0123456789ABCDEF"

// isCanonical reports whether p needs no work: no dot segment, no escape, no byte to escape
// or convert. The common case, /v1/logs, allocates nothing.
func isCanonical(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%' || c == '\\':
			return false
		case c == '.':
			if p[i-1] == '/' { // p starts with "/": i > 0
				return false
			}
		case pathClass[c] != pathPass && pathClass[c] != pathUnescape:
			return false
		}
	}
	return true
}

// dotAt returns the length of the dot at p[i]: 1 for ".", 3 for "%2E" or "%2e", 0 for none.
func dotAt(p string, i int) int {
	if p[i] == '.' {
		return 1
	}
	if p[i] == '%' && i+2 < len(p) && p[i+1] == '2' && (p[i+2] == 'e' || p[i+2] == 'E') {
		return 3
	}
	return 0
}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

// What a dot after a slash is.
const (
	dotName    = iota // part of a segment name ("/.x", "/..x")
	dotCurrent        // "." segment
	dotParent         // ".." segment
)

// afterDot classifies a dot that follows a slash from what is at p[j], just after it, and
// returns how many bytes after the dot the segment holds (its second dot and its slash).
func afterDot(p string, j int) (kind, used int) {
	if j == len(p) {
		return dotCurrent, 0
	}
	if isSlash(p[j]) {
		return dotCurrent, 1
	}
	if n := dotAt(p, j); n > 0 {
		k := j + n
		if k == len(p) {
			return dotParent, n
		}
		if isSlash(p[k]) {
			return dotParent, n + 1
		}
	}
	return dotName, 0
}

// backUpToPreviousSlash removes the last segment of out, which ends with "/", keeping that
// segment's leading slash; at the root it stays "/".
func backUpToPreviousSlash(out []byte) []byte {
	i := len(out) - 1
	if i == 0 {
		return out
	}
	i--
	for i > 0 && out[i] != '/' {
		i--
	}
	return out[:i+1]
}

// unhexAt decodes the two hex digits at p[i:i+2].
func unhexAt(p string, i int) (byte, bool) {
	if i+1 >= len(p) {
		return 0, false
	}
	hi, ok1 := unhex(p[i])
	lo, ok2 := unhex(p[i+1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// normalizeRequest normalizes the path of u as sent (u.RawPath, or u.EscapedPath() when it
// needs no escaping) and makes u carry the result: the filter, the route match and the
// upstream request all read it from u.RequestURI(). It returns false when Envoy would refuse
// the path (400).
func normalizeRequest(u *url.URL, dots, merge bool) bool {
	sent := u.RawPath
	if sent == "" {
		sent = u.EscapedPath()
	}
	n, ok := normalizeRequestPath(sent, dots, merge)
	if !ok {
		return false
	}
	if n == sent && u.RawPath == "" {
		return true
	}
	p, err := url.PathUnescape(n)
	if err != nil {
		return false // not reached: n holds only valid escapes
	}
	u.Path, u.RawPath = p, ""
	if u.EscapedPath() != n {
		u.RawPath = n
	}
	return true
}
