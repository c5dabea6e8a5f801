package kafkaauth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ingestdev/ingest/internal/kafkaauth"
	"github.com/ingestdev/ingest/internal/kafkaauth/kafkaauthtest"
)

// secureCluster is a 3-broker cluster that requires TLS and SASL, with topic "secured".
func secureCluster(t *testing.T) ([]string, string) {
	t.Helper()
	c, ca := kafkaauthtest.Start(t, 3, kfake.SeedTopics(1, "secured"))
	return c.ListenAddrs(), ca
}

// roundTrip produces one record and reads it back with cfg, within a few seconds.
func roundTrip(t *testing.T, brokers []string, cfg kafkaauth.Config, timeout time.Duration) error {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("secured"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestRetries(1), kgo.RetryTimeout(timeout))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secured", Value: []byte("hello")}).FirstErr(); err != nil {
		return err
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		return err
	}
	if fs.NumRecords() == 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// TestEveryMechanismOverTLSReachesASecuredThreeBrokerCluster: PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 over TLS verified against the CA file produce and consume; the password may
// come from a file or the environment. A wrong password, no SASL, and no TLS are refused.
func TestEveryMechanismOverTLSReachesASecuredThreeBrokerCluster(t *testing.T) {
	brokers, ca := secureCluster(t)
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte("SCRAM-SHA-512-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withTLS := func(s kafkaauth.SASL) kafkaauth.Config {
		return kafkaauth.Config{TLS: kafkaauth.TLS{CAFile: ca}, SASL: s}
	}
	for name, cfg := range map[string]kafkaauth.Config{
		"plain":              kafkaauthtest.Client(ca, "PLAIN"),
		"scram-sha-256":      kafkaauthtest.Client(ca, "SCRAM-SHA-256"),
		"scram-sha-512 file": withTLS(kafkaauth.SASL{Mechanism: "scram-sha-512", Username: "SCRAM-SHA-512-user", PasswordFile: passFile}),
	} {
		if err := roundTrip(t, brokers, cfg, 10*time.Second); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Setenv(kafkaauth.PasswordEnv, "PLAIN-pass")
	if err := roundTrip(t, brokers, withTLS(kafkaauth.SASL{Mechanism: "PLAIN", Username: "PLAIN-user"}), 10*time.Second); err != nil {
		t.Errorf("password from %s: %v", kafkaauth.PasswordEnv, err)
	}
	for name, cfg := range map[string]kafkaauth.Config{
		"wrong password": withTLS(kafkaauth.SASL{Mechanism: "SCRAM-SHA-256", Username: "SCRAM-SHA-256-user", Password: "nope"}),
		"no SASL":        withTLS(kafkaauth.SASL{}),
		"no TLS":         {SASL: kafkaauthtest.Client(ca, "PLAIN").SASL},
		"unknown CA":     {TLS: kafkaauth.TLS{Enabled: true}, SASL: kafkaauthtest.Client(ca, "PLAIN").SASL},
	} {
		if err := roundTrip(t, brokers, cfg, time.Second); err == nil {
			t.Errorf("%s: the secured cluster took the record", name)
		}
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	if err := (kafkaauth.Config{}).Validate("kafka"); err != nil {
		t.Errorf("the zero config: %v", err)
	}
	err := kafkaauth.Config{TLS: kafkaauth.TLS{CertFile: "c.pem"}, SASL: kafkaauth.SASL{Mechanism: "GSSAPI", Password: "x", PasswordFile: "f"}}.Validate("loader.kafka")
	for _, want := range []string{"loader.kafka.tls: cert_file and key_file go together", `loader.kafka.sasl.mechanism: "GSSAPI" is not`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to contain %q", err, want)
		}
	}
	err = kafkaauth.Config{SASL: kafkaauth.SASL{Mechanism: "PLAIN"}}.Validate("kafka")
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.username: is required") {
		t.Errorf("Validate without a username = %v", err)
	}
	if _, err := (kafkaauth.Config{SASL: kafkaauth.SASL{Mechanism: "PLAIN", Username: "u"}}).Opts(); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("Opts without a password = %v", err)
	}
}
