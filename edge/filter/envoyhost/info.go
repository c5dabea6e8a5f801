package envoyhost

import (
	"maps"
	"net"
	"net/http"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// streamInfo implements api.StreamInfo from the request. Like Envoy's, every method panics
// once the filter is destroyed.
type streamInfo struct{ s *stream }

var _ api.StreamInfo = (*streamInfo)(nil)

// GetRouteName returns "": the host does no routing.
func (i *streamInfo) GetRouteName() string { i.s.checkAlive(); return "" }

// FilterChainName returns "".
func (i *streamInfo) FilterChainName() string { i.s.checkAlive(); return "" }

// Protocol returns the request's protocol in Envoy's spelling (HTTP/1.1, HTTP/2.0...).
func (i *streamInfo) Protocol() (string, bool) {
	i.s.checkAlive()
	switch p := i.s.req.Proto; p {
	case "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0":
		return p, true
	case "HTTP/2":
		return "HTTP/2.0", true
	case "HTTP/3":
		return "HTTP/3.0", true
	}
	return "", false
}

// ResponseCode returns the local reply's status, or the status given to Finish.
func (i *streamInfo) ResponseCode() (uint32, bool) {
	i.s.checkAlive()
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.s.respCode, i.s.respCode != 0
}

// ResponseCodeDetails returns the local reply's details.
func (i *streamInfo) ResponseCodeDetails() (string, bool) {
	i.s.checkAlive()
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.s.respDetails, i.s.respDetails != ""
}

// AttemptCount returns 0: the host makes no upstream attempts.
func (i *streamInfo) AttemptCount() uint32 { i.s.checkAlive(); return 0 }

// DynamicMetadata returns the request's dynamic metadata, kept in memory.
func (i *streamInfo) DynamicMetadata() api.DynamicMetadata {
	i.s.checkAlive()
	return dynamicMetadata{s: i.s}
}

// DownstreamLocalAddress returns the address the request came in on, if the server put it in
// the request's context (http.LocalAddrContextKey).
func (i *streamInfo) DownstreamLocalAddress() string {
	i.s.checkAlive()
	if a, ok := i.s.req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return ""
}

// DownstreamRemoteAddress returns the client's address.
func (i *streamInfo) DownstreamRemoteAddress() string { i.s.checkAlive(); return i.s.req.RemoteAddr }

// UpstreamLocalAddress is not known to the host.
func (i *streamInfo) UpstreamLocalAddress() (string, bool) { i.s.checkAlive(); return "", false }

// UpstreamRemoteAddress is not known to the host.
func (i *streamInfo) UpstreamRemoteAddress() (string, bool) { i.s.checkAlive(); return "", false }

// UpstreamClusterName returns the cluster the caller set with Result.SetUpstreamCluster.
func (i *streamInfo) UpstreamClusterName() (string, bool) {
	i.s.checkAlive()
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.s.cluster, i.s.cluster != ""
}

// FilterState returns the request's filter state, kept in memory.
func (i *streamInfo) FilterState() api.FilterState {
	i.s.checkAlive()
	return filterState{s: i.s}
}

// VirtualClusterName is not known to the host.
func (i *streamInfo) VirtualClusterName() (string, bool) { i.s.checkAlive(); return "", false }

// WorkerID returns 0.
func (i *streamInfo) WorkerID() uint32 { i.s.checkAlive(); return 0 }

// filterState implements api.FilterState with string values in memory.
type filterState struct{ s *stream }

func (f filterState) SetString(key, value string, _ api.StateType, _ api.LifeSpan, _ api.StreamSharing) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.destroyed {
		panic(errFilterDestroyed)
	}
	if f.s.filterState == nil {
		f.s.filterState = map[string]string{}
	}
	f.s.filterState[key] = value
}

func (f filterState) GetString(key string) string {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.destroyed {
		panic(errFilterDestroyed)
	}
	return f.s.filterState[key]
}

// dynamicMetadata implements api.DynamicMetadata in memory.
type dynamicMetadata struct{ s *stream }

// Get returns a copy of filterName's metadata, or nil.
func (d dynamicMetadata) Get(filterName string) map[string]interface{} {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.destroyed {
		panic(errFilterDestroyed)
	}
	return maps.Clone(d.s.metadata[filterName])
}

// Set sets key in filterName's metadata.
func (d dynamicMetadata) Set(filterName, key string, value interface{}) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.destroyed {
		panic(errFilterDestroyed)
	}
	if d.s.metadata == nil {
		d.s.metadata = map[string]map[string]interface{}{}
	}
	if d.s.metadata[filterName] == nil {
		d.s.metadata[filterName] = map[string]interface{}{}
	}
	d.s.metadata[filterName][key] = value
}
