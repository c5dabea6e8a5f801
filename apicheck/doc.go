// Package apicheck checks that what the control plane serves means the same to Envoy 1.33 as
// to the control plane. go-control-plane v0.14 builds resources with the Envoy API of 1.36 and
// later; Envoy silently ignores fields it does not know, so a field added after 1.33 would be
// accepted and do nothing. apicheck decodes the resources with go-control-plane/envoy v1.32.4
// (the 1.33-era API) and fails on every unknown field, at any depth and inside every Any,
// naming its path.
//
// It is a separate module because one binary cannot hold two versions of the Envoy protos
// (same full names: "proto: duplicate registration"). It therefore does not import the main
// module at all (requiring it would also pull the newer protos in by minimal version
// selection); it reads what the main module writes: the binary resources of
// controlplane/xds/testdata/golden/*.binpb (one DiscoveryResponse per golden case, kept
// current by the main module's golden test) and edge/envoy/bootstrap.yaml.
//
// Run it with: cd apicheck && go test ./...
package apicheck
