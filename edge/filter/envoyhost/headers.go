package envoyhost

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// mapKind says which of a request's header maps a headerMap is, and so when it may change.
type mapKind int

const (
	mapRequestHeaders  mapKind = iota // writable in a decode phase until the headers are continued
	mapRequestTrailers                // writable in the trailers phase
	mapReadOnly                       // the maps OnLog gets
)

// headerMap implements api.RequestHeaderMap, api.RequestTrailerMap and api.ResponseHeaderMap
// like Envoy's shim: every key is lower-cased, several values per key are kept in order.
type headerMap struct {
	s    *stream
	kind mapKind
	mu   sync.Mutex
	h    map[string][]string
}

var (
	_ api.RequestHeaderMap   = (*headerMap)(nil)
	_ api.RequestTrailerMap  = (*headerMap)(nil)
	_ api.ResponseHeaderMap  = (*headerMap)(nil)
	_ api.ResponseTrailerMap = (*headerMap)(nil)
)

func newHeaderMap(s *stream, kind mapKind, h map[string][]string) *headerMap {
	return &headerMap{s: s, kind: kind, h: h}
}

func newResponseHeaderMap(s *stream, status int, header http.Header) *headerMap {
	h := make(map[string][]string, len(header)+1)
	for k, vs := range header {
		k = strings.ToLower(k)
		h[k] = append(h[k], vs...)
	}
	h[":status"] = []string{strconv.Itoa(status)}
	return newHeaderMap(s, mapReadOnly, h)
}

// checkWrite panics like Envoy's C API when the map cannot change now.
func (m *headerMap) checkWrite() {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.destroyed:
		panic(errFilterDestroyed)
	case m.kind == mapReadOnly:
		panic(errInvalidPhase)
	case s.phase == 0:
		panic(errNotInGo)
	case m.kind == mapRequestHeaders && s.headersContinued, m.kind == mapRequestTrailers && s.trailersContinued:
		panic(errInvalidPhase)
	}
}

// snapshot returns a deep copy of the map.
func (m *headerMap) snapshot() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]string, len(m.h))
	for k, vs := range m.h {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (m *headerMap) readOnlyCopy() *headerMap {
	return newHeaderMap(m.s, mapReadOnly, m.snapshot())
}

// GetRaw returns the first value of name, which is not lower-cased (Envoy's keys are).
func (m *headerMap) GetRaw(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if vs := m.h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Get returns the first value of key.
func (m *headerMap) Get(key string) (string, bool) {
	key = strings.ToLower(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	vs, ok := m.h[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// Values returns every value of key; the slice is the map's own, as in Envoy.
func (m *headerMap) Values(key string) []string {
	key = strings.ToLower(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.h[key]
}

// Set replaces the values of key with value.
func (m *headerMap) Set(key, value string) {
	m.checkWrite()
	key = strings.ToLower(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.h[key] = []string{value}
}

// Add appends value to the values of key.
func (m *headerMap) Add(key, value string) {
	m.checkWrite()
	key = strings.ToLower(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.h[key] = append(m.h[key], value)
}

// Del removes key.
func (m *headerMap) Del(key string) {
	m.checkWrite()
	key = strings.ToLower(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.h, key)
}

// Range calls f for each key and value until f returns false. Unlike Envoy it holds no lock
// while calling f.
func (m *headerMap) Range(f func(key, value string) bool) {
	for k, vs := range m.snapshot() {
		for _, v := range vs {
			if !f(k, v) {
				return
			}
		}
	}
}

// RangeWithCopy is Range.
func (m *headerMap) RangeWithCopy(f func(key, value string) bool) { m.Range(f) }

// GetAllHeaders returns a copy of the map.
func (m *headerMap) GetAllHeaders() map[string][]string { return m.snapshot() }

func (m *headerMap) first(key string) string {
	v, _ := m.Get(key)
	return v
}

// Scheme returns :scheme.
func (m *headerMap) Scheme() string { return m.first(":scheme") }

// Method returns :method.
func (m *headerMap) Method() string { return m.first(":method") }

// Host returns :authority.
func (m *headerMap) Host() string { return m.first(":authority") }

// Path returns :path.
func (m *headerMap) Path() string { return m.first(":path") }

// SetMethod sets :method.
func (m *headerMap) SetMethod(method string) { m.Set(":method", method) }

// SetHost sets :authority.
func (m *headerMap) SetHost(host string) { m.Set(":authority", host) }

// SetPath sets :path.
func (m *headerMap) SetPath(path string) { m.Set(":path", path) }

// Status returns :status of a response header map.
func (m *headerMap) Status() (int, bool) {
	if v, ok := m.Get(":status"); ok {
		n, _ := strconv.Atoi(v)
		return n, true
	}
	return 0, false
}
