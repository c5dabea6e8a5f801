package xds

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// certWatcher loads the listener certificate from two PEM files and notices when they change
// (modification time, size or identity of either file). It is used by one goroutine.
type certWatcher struct {
	certFile, keyFile string
	stamp             [2]fileStamp
	current           Certificate
	notAfter          time.Time
}

// fileStamp identifies one version of a file: Stat follows symbolic links, so a Kubernetes
// secret volume's link swap shows as another file.
type fileStamp struct{ fi os.FileInfo }

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi: fi}, nil
}

func (a fileStamp) equal(b fileStamp) bool {
	if a.fi == nil || b.fi == nil {
		return false
	}
	return os.SameFile(a.fi, b.fi) && a.fi.ModTime().Equal(b.fi.ModTime()) && a.fi.Size() == b.fi.Size()
}

// loadCertificate reads and checks a PEM certificate chain and private key.
func loadCertificate(certFile, keyFile string) (Certificate, time.Time, error) {
	chain, err := os.ReadFile(certFile)
	if err != nil {
		return Certificate{}, time.Time{}, fmt.Errorf("cannot read certificate %q: %w", certFile, err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return Certificate{}, time.Time{}, fmt.Errorf("cannot read private key %q: %w", keyFile, err)
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return Certificate{}, time.Time{}, fmt.Errorf("cannot use certificate %q with key %q: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return Certificate{}, time.Time{}, fmt.Errorf("cannot parse certificate %q: %w", certFile, err)
	}
	return Certificate{Chain: chain, Key: key}, leaf.NotAfter, nil
}

// load loads the files unconditionally; the startup path.
func (w *certWatcher) load() error {
	s0, err0 := stampOf(w.certFile)
	s1, err1 := stampOf(w.keyFile)
	c, notAfter, err := loadCertificate(w.certFile, w.keyFile)
	if err != nil {
		return err
	}
	if err0 == nil && err1 == nil {
		w.stamp = [2]fileStamp{s0, s1}
	}
	w.current, w.notAfter = c, notAfter
	return nil
}

// poll reports whether the files changed to a new valid pair, which becomes current. A change
// to an invalid pair (for example the certificate written before the key) returns the error
// and keeps the current pair; the next change of either file is tried again.
func (w *certWatcher) poll() (changed bool, err error) {
	s0, err := stampOf(w.certFile)
	if err != nil {
		return false, fmt.Errorf("cannot stat certificate %q: %w", w.certFile, err)
	}
	s1, err := stampOf(w.keyFile)
	if err != nil {
		return false, fmt.Errorf("cannot stat private key %q: %w", w.keyFile, err)
	}
	if s0.equal(w.stamp[0]) && s1.equal(w.stamp[1]) {
		return false, nil
	}
	w.stamp = [2]fileStamp{s0, s1}
	c, notAfter, err := loadCertificate(w.certFile, w.keyFile)
	if err != nil {
		return false, err
	}
	if bytes.Equal(c.Chain, w.current.Chain) && bytes.Equal(c.Key, w.current.Key) {
		return false, nil
	}
	w.current, w.notAfter = c, notAfter
	return true, nil
}
