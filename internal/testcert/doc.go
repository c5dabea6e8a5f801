// Package testcert makes throwaway TLS certificates for tests: self-signed certificates that
// are their own CA (Generate, Write), and a throwaway CA that issues server and client
// certificates for mutual TLS (NewCA, WriteMTLS). Development certificates that users keep
// (ingest dev's CA) are made by internal/devstack instead.
package testcert
