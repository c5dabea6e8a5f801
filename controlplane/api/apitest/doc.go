// Package apitest starts the control plane's real admin API over a real registry in a temporary
// directory, for the tests of the API and of its clients (controlplane/client, ingestctl).
package apitest
