package devstack

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEnsureTLSIssuesTheXDSMutualTLSPairAndKeepsIt checks the development PKI of the xDS port:
// the xDS server certificate verifies for 127.0.0.1 as a server, the edge's client certificate
// as a client, both under the development CA; a second run keeps them.
func TestEnsureTLSIssuesTheXDSMutualTLSPairAndKeepsIt(t *testing.T) {
	dir := t.TempDir()
	if err := ensureTLS(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	for _, c := range []struct {
		cert, key, name string
		usage           x509.ExtKeyUsage
	}{
		{xdsServerCertFile, xdsServerKeyFile, "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{xdsClientCertFile, xdsClientKeyFile, "ingest-dev-edge", x509.ExtKeyUsageClientAuth},
		{serverCertFile, serverKeyFile, "localhost", x509.ExtKeyUsageServerAuth},
	} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, c.cert), filepath.Join(dir, c.key))
		if err != nil {
			t.Fatalf("%s: %v", c.cert, err)
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: c.name, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s does not verify for %s: %v", c.cert, c.name, err)
		}
	}
	before, err := os.ReadFile(filepath.Join(dir, xdsClientCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureTLS(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, xdsClientCertFile)); !bytes.Equal(before, after) {
		t.Error("a valid client certificate was issued again")
	}
}
