package envoyhost

import (
	"errors"
	"fmt"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
)

// ParseConfig runs a filter's config parser on a filter-level plugin_config as Envoy does when
// a listener arrives, with m as the callbacks for defining metrics; a nil m runs it as Envoy
// parses a route-level config (nil callbacks). A panic in the parser becomes an error (Envoy
// would crash).
func ParseConfig(p api.StreamFilterConfigParser, cfg *anypb.Any, m *Metrics) (parsed interface{}, err error) {
	if p == nil {
		return nil, errors.New("cannot parse filter config: config parser is nil")
	}
	defer func() {
		if e := recover(); e != nil {
			parsed, err = nil, fmt.Errorf("cannot parse filter config of type %q: the parser panicked: %v", cfg.GetTypeUrl(), e)
		}
	}()
	var cb api.ConfigCallbackHandler
	if m != nil {
		cb = m
	}
	return p.Parse(cfg, cb)
}
