// Package testcert makes throwaway self-signed TLS certificates for tests: one certificate that
// is its own CA, so a pool holding it verifies it. Development certificates that users keep
// (ingest dev's CA) are made by internal/devstack instead.
package testcert
