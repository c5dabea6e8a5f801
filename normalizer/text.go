package normalizer

import (
	"unicode/utf8"
	"unsafe"
)

// shorten cuts s to at most about n bytes at a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// aliasString returns b as a string without copying; b must not change while the string is in
// use. The decoders use it for bytes owned by the parser or an arena, which stay unchanged until
// the next line or item.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
