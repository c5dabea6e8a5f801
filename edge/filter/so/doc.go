// Command so is the edge filter built as the shared object Envoy's golang HTTP filter
// loads (library_id and plugin_name filterconfig.LibraryID and filterconfig.PluginName):
//
//	CGO_ENABLED=1 go build -buildmode=c-shared -o bin/ingest-edge.so ./edge/filter/so
//
// (make filter). It is the only package that imports Envoy's pkg/http, whose init calls into
// Envoy's C API: a test binary importing it segfaults, so its test (edge/filter/sotest) builds
// the .so and checks its exports instead. The .so holds the process's one filter.Shared, and
// registers its factory with its ConfigParser: the tenants' token buckets, the edge's in-flight
// bytes and the cache of resolved API keys outlive every configuration push.
package main
