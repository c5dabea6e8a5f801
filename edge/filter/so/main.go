package main

import (
	"github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	"github.com/ingestdev/ingest/edge/filter"
	"github.com/ingestdev/ingest/edge/filter/filterconfig"
)

func init() {
	shared := filter.NewShared(nil)
	http.RegisterHttpFilterFactoryAndConfigParser(filterconfig.PluginName, shared.FilterFactory, shared.ConfigParser())
}

// main is never called: Envoy loads the library and calls its exported envoyGo* functions.
func main() {}
