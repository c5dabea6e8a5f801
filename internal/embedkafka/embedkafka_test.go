package embedkafka

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/testcert"
)

func TestValidateNamesKeys(t *testing.T) {
	err := Config{Listen: []string{"0.0.0.0:9092", "nohost", "127.0.0.1:99999"}, DefaultPartitions: -1}.Validate()
	for _, want := range []string{"data_dir:", `listen: "0.0.0.0:9092"`, `listen: "nohost"`, `listen: "127.0.0.1:99999"`, "default_partitions:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
	if err := (Config{DataDir: "x", Listen: []string{"127.0.0.1:0"}}).Validate(); err != nil {
		t.Errorf("Validate of a good config = %v", err)
	}
}

func TestRecordsSurviveCloseAndStartOnTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	cfg := Config{DataDir: dir, Listen: []string{"127.0.0.1:0"}, SyncWrites: true}
	k, err := Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(cfg, log); err == nil {
		t.Fatal("a second Start on a locked data directory succeeded")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("kept")}).FirstErr(); err == nil {
		t.Fatal("produced to a topic that was never created: kfake must not auto-create topics")
	}
	if err := k.Cluster().CreateTopic("t", 6, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics.json")); err != nil {
		t.Errorf("no topic metadata in the data directory: %v", err)
	}

	k, err = Start(cfg, log)
	if err != nil {
		t.Fatalf("cannot start again: %v", err)
	}
	defer k.Close(ctx)
	cl, err = kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.ConsumeTopics("t"), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "kept" {
		t.Fatalf("after the restart the topic holds %d records (%v), want the one produced", len(recs), fs.Errors())
	}
}

// TestASecuredEmbeddedClusterTakesOnlyTLSAndItsUsers: with a certificate and SASL users the
// brokers serve TLS only and require a user: the user over TLS produces, a plaintext client
// and a wrong password do not; the password may come from INGEST_KAFKA_SASL_PASSWORD.
func TestASecuredEmbeddedClusterTakesOnlyTLSAndItsUsers(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _, err := testcert.Write(dir, "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(kafkaauth.PasswordEnv, "from-env")
	cfg := Config{DataDir: filepath.Join(dir, "data"), Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"},
		TLSCertFile: certFile, TLSKeyFile: keyFile, SASLUsers: []SASLUser{
			{Mechanism: kafkaauth.MechanismSCRAMSHA512, Username: "ingest", Password: "secret"},
			{Mechanism: kafkaauth.MechanismPlain, Username: "env-user"},
		}}
	k, err := Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(context.Background()) })
	if err := k.Cluster().CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	produce := func(c kafkaauth.Config) error {
		opts, err := c.Opts()
		if err != nil {
			return err
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(k.Addrs()...), kgo.RequestRetries(1))...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr()
	}
	tlsTo := kafkaauth.TLS{CAFile: certFile}
	if err := produce(kafkaauth.Config{TLS: tlsTo, SASL: kafkaauth.SASL{Mechanism: "SCRAM-SHA-512", Username: "ingest", Password: "secret"}}); err != nil {
		t.Errorf("SCRAM-SHA-512 over TLS: %v", err)
	}
	if err := produce(kafkaauth.Config{TLS: tlsTo, SASL: kafkaauth.SASL{Mechanism: "PLAIN", Username: "env-user"}}); err != nil {
		t.Errorf("PLAIN with the password from the environment: %v", err)
	}
	if err := produce(kafkaauth.Config{SASL: kafkaauth.SASL{Mechanism: "SCRAM-SHA-512", Username: "ingest", Password: "secret"}}); err == nil {
		t.Error("a plaintext client produced")
	}
	if err := produce(kafkaauth.Config{TLS: tlsTo, SASL: kafkaauth.SASL{Mechanism: "SCRAM-SHA-512", Username: "ingest", Password: "wrong"}}); err == nil {
		t.Error("a wrong password produced")
	}
	if err := (Config{DataDir: "x", TLSCertFile: "c", SASLUsers: []SASLUser{{Mechanism: "GSSAPI"}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "tls_cert_file, tls_key_file") || !strings.Contains(err.Error(), `sasl_users[0].mechanism: "GSSAPI"`) || !strings.Contains(err.Error(), "sasl_users[0].username") {
		t.Errorf("Validate = %v", err)
	}
}
