package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestWrittenCertificateVerifiesForItsHostsOnly(t *testing.T) {
	certFile, keyFile, pool, err := Write(t.TempDir(), "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("cannot load the pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"}); err == nil {
		t.Error("verified for a host it was not made for")
	}
}

func TestMTLSFilesVerifyWithinTheirCAOnly(t *testing.T) {
	m, err := WriteMTLS(t.TempDir(), "edge-1", "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
		name      string
	}{{m.ServerCertFile, m.ServerKeyFile, x509.ExtKeyUsageServerAuth, "127.0.0.1"}, {m.ClientCertFile, m.ClientKeyFile, x509.ExtKeyUsageClientAuth, "edge-1"}} {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			t.Fatal(err)
		}
		opts := x509.VerifyOptions{Roots: m.CA.Pool(), DNSName: c.name, KeyUsages: []x509.ExtKeyUsage{c.usage}}
		if _, err := pair.Leaf.Verify(opts); err != nil {
			t.Errorf("%s: %v", c.cert, err)
		}
		opts.Roots = other.Pool()
		if _, err := pair.Leaf.Verify(opts); err == nil {
			t.Errorf("%s verified against another CA", c.cert)
		}
	}
}
