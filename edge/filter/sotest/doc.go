// Package sotest checks the edge filter's shared object (edge/filter/so): that it builds with
// -buildmode=c-shared and exports exactly the envoyGo* entry points Envoy's golang filter
// looks up. It is a package of its own because edge/filter/so imports Envoy's pkg/http, which
// cannot run outside Envoy: this test builds the .so with the go command and reads its dynamic
// symbol table with debug/elf, without loading it.
package sotest
