package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the development PKI, under <DataDir>/tls.
const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem" // the edge's certificate followed by the CA's
	serverKeyFile  = "server-key.pem"
	// The mutual TLS of the xDS port: the control plane's xDS server certificate and the Go
	// edge's client certificate, both signed by the development CA (which each side trusts).
	xdsServerCertFile = "xds-server.pem"
	xdsServerKeyFile  = "xds-server-key.pem"
	xdsClientCertFile = "xds-client.pem"
	xdsClientKeyFile  = "xds-client-key.pem"
)

// leaf is a certificate the development CA issues.
type leaf struct {
	certFile, keyFile string
	what              string // for errors
	cn                string
	dns               []string
	ips               []net.IP
	usage             x509.ExtKeyUsage
}

// devLeaves returns the certificates ensureTLS keeps current.
func devLeaves() []leaf {
	return []leaf{
		{certFile: serverCertFile, keyFile: serverKeyFile, what: "the edge's certificate", cn: "localhost",
			dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, usage: x509.ExtKeyUsageServerAuth},
		{certFile: xdsServerCertFile, keyFile: xdsServerKeyFile, what: "the xDS server's certificate", cn: "localhost",
			dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, usage: x509.ExtKeyUsageServerAuth},
		{certFile: xdsClientCertFile, keyFile: xdsClientKeyFile, what: "the edge's xDS client certificate", cn: "ingest-dev-edge",
			dns: []string{"ingest-dev-edge"}, usage: x509.ExtKeyUsageClientAuth},
	}
}

// Lifetimes of the development certificates. A leaf certificate is issued again when it
// expires within certRenewBefore.
const (
	caLifetime      = 10 * 365 * 24 * time.Hour
	serverLifetime  = 2 * 365 * 24 * time.Hour
	certRenewBefore = 7 * 24 * time.Hour
)

// ensureTLS makes sure dir holds a development CA and, signed by it, the edge's server
// certificate and the xDS server's certificate (both for localhost, 127.0.0.1 and ::1) and the
// edge's xDS client certificate (ingest-dev-edge), generating what is missing (ECDSA P-256).
// An existing CA is kept, so that clients that trust it keep working across restarts.
func ensureTLS(dir string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %q: %w", dir, err)
	}
	caCert, caKey, err := loadCA(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if caCert, caKey, err = newCA(dir, now); err != nil {
			return err
		}
	}
	for _, l := range devLeaves() {
		if pair, err := tls.LoadX509KeyPair(filepath.Join(dir, l.certFile), filepath.Join(dir, l.keyFile)); err == nil &&
			pair.Leaf != nil && pair.Leaf.NotAfter.After(now.Add(certRenewBefore)) && pair.Leaf.CheckSignatureFrom(caCert) == nil {
			continue
		}
		if err := newLeafCert(dir, l, caCert, caKey, now); err != nil {
			return err
		}
	}
	return nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, caCertFile)); errors.Is(statErr, os.ErrNotExist) {
			return nil, nil, os.ErrNotExist
		}
		return nil, nil, fmt.Errorf("cannot load the development CA in %q (delete the directory to make a new one): %w", dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("cannot load the development CA in %q: the key is not ECDSA", dir)
	}
	return pair.Leaf, key, nil
}

func newCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate the development CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ingest dev CA", Organization: []string{"ingest development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create the development CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(filepath.Join(dir, caKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, caCertFile), 0o644, der); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func newLeafCert(dir string, l leaf, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("cannot generate the key of %s: %w", l.what, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: l.cn, Organization: []string{"ingest development"}},
		DNSNames:     l.dns,
		IPAddresses:  l.ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{l.usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("cannot issue %s: %w", l.what, err)
	}
	if err := writeKey(filepath.Join(dir, l.keyFile), key); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, l.certFile), 0o644, der, ca.Raw)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // broken invariant: crypto/rand never fails
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("cannot encode the key for %q: %w", path, err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return writeFileAtomic(path, b, 0o600)
}

func writePEM(path string, mode os.FileMode, ders ...[]byte) error {
	var b []byte
	for _, der := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return writeFileAtomic(path, b, mode)
}

// writeFileAtomic writes data to path through a temporary file and a rename, with mode.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile keeps the mode of an existing file
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return nil
}
