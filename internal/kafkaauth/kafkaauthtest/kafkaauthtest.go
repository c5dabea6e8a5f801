// Package kafkaauthtest starts kfake clusters that require TLS and SASL, for the tests of the
// Kafka clients that kafkaauth secures.
package kafkaauthtest

import (
	"crypto/tls"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/testcert"
)

// The users of a secured cluster, one per mechanism: user "<mechanism>-user", password
// "<mechanism>-pass" (e.g. "SCRAM-SHA-512-user").
var Mechanisms = []string{kafkaauth.MechanismPlain, kafkaauth.MechanismSCRAMSHA256, kafkaauth.MechanismSCRAMSHA512}

// Start starts a kfake cluster of brokers brokers that requires TLS (a certificate for
// localhost and 127.0.0.1 that is its own CA) and SASL, with opts added, closed by t's cleanup.
// It returns the cluster and the CA file.
func Start(t testing.TB, brokers int, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	certFile, keyFile, _, err := testcert.Write(t.TempDir(), "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	all := []kfake.Opt{kfake.NumBrokers(brokers), kfake.EnableSASL(),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})}
	for _, m := range Mechanisms {
		all = append(all, kfake.Superuser(m, m+"-user", m+"-pass"))
	}
	c, err := kfake.NewCluster(append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, certFile
}

// Client returns the client configuration of mechanism's user over TLS verified with caFile.
func Client(caFile, mechanism string) kafkaauth.Config {
	return kafkaauth.Config{TLS: kafkaauth.TLS{CAFile: caFile},
		SASL: kafkaauth.SASL{Mechanism: mechanism, Username: mechanism + "-user", Password: mechanism + "-pass"}}
}

// Producer returns a client of cfg on c's brokers that writes to the partition each record
// names, closed by t's cleanup.
func Producer(t testing.TB, c *kfake.Cluster, cfg kafkaauth.Config) *kgo.Client {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
