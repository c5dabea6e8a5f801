package main

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/testcert"
	"github.com/ingestdev/ingest/internal/testkit"
)

// TestIngestKafkaServesTLSAndSASLFromItsFlags: `ingest kafka --tls-cert --tls-key --sasl-user
// SCRAM-SHA-256:ingest` with INGEST_KAFKA_SASL_PASSWORD serves TLS only and takes that user:
// the clients' kafka section reaches it with the same password variable; plaintext does not.
func TestIngestKafkaServesTLSAndSASLFromItsFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _, err := testcert.Write(dir, "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(kafkaauth.PasswordEnv, "s3cret-password")
	addr, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	startCommand(t, "kafka", "--data-dir", dir+"/data", "--listen", addr, "--admin-listen", admin,
		"--tls-cert", certFile, "--tls-key", keyFile, "--sasl-user", "SCRAM-SHA-256:ingest")
	waitReady(t, admin)
	client := func(c kafkaauth.Config) (*kadm.Client, func()) {
		opts, err := c.Opts()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr), kgo.RequestRetries(1))...)
		if err != nil {
			t.Fatal(err)
		}
		return kadm.NewClient(cl), cl.Close
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	good, closeGood := client(kafkaauth.Config{TLS: kafkaauth.TLS{CAFile: certFile}, SASL: kafkaauth.SASL{Mechanism: "SCRAM-SHA-256", Username: "ingest"}})
	defer closeGood()
	if _, err := good.ListBrokers(ctx); err != nil {
		t.Errorf("the user over TLS: %v", err)
	}
	plain, closePlain := client(kafkaauth.Config{})
	defer closePlain()
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer pcancel()
	if _, err := plain.ListBrokers(pctx); err == nil {
		t.Error("a plaintext client without a user was answered")
	}
}
