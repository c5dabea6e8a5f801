// Package kafkaauth is how the sink writer, the loader and replay reach a secured Kafka
// cluster: TLS (server verification, optionally a client certificate) and SASL (PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512), through franz-go's own plugins, configured from the
// services' config files (docs/configuration.md, "Kafka security").
//
// The zero Config is plaintext without authentication, which is what the embedded broker
// (`ingest kafka`) serves by default.
package kafkaauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// PasswordEnv is the environment variable that gives the SASL password when neither password
// nor password_file is set.
const PasswordEnv = "INGEST_KAFKA_SASL_PASSWORD"

// Config secures a Kafka client.
type Config struct {
	TLS  TLS  `yaml:"tls"`
	SASL SASL `yaml:"sasl"`
}

// TLS configures the client's TLS. Enabled with any field set.
type TLS struct {
	// Enabled turns TLS on, verifying the brokers against the system's roots (or CAFile).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs the brokers' certificates must chain to, instead of
	// the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client's certificate and key (PEM), for brokers that
	// require mutual TLS. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name the brokers' certificates are checked against (default:
	// the host of each broker address).
	ServerName string `yaml:"server_name"`
}

// SASL configures the client's SASL authentication. Off when Mechanism is empty.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. PLAIN sends the password as it is:
	// use it only over TLS.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password, or PasswordFile (its first line), or the environment variable PasswordEnv;
	// the file or the environment keep it out of config files.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// tlsOn reports whether TLS is configured.
func (t TLS) tlsOn() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// Validate returns every problem of c, each naming its key under prefix (e.g. "kafka").
func (c Config) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together: set both for a client certificate, or neither")
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" || c.SASL.PasswordFile != "" {
			bad("sasl.mechanism", "is required with a username or password (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		if c.SASL.Username == "" {
			bad("sasl.username", "is required with sasl.mechanism %s", c.SASL.Mechanism)
		}
		if c.SASL.Password != "" && c.SASL.PasswordFile != "" {
			bad("sasl.password", "set password or password_file, not both")
		}
	default:
		bad("sasl.mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism)
	}
	return errors.Join(errs...)
}

// Opts returns the franz-go options that apply c, reading its files now: none for the zero
// Config.
func (c Config) Opts() ([]kgo.Opt, error) {
	if err := c.Validate("kafka"); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if c.TLS.tlsOn() {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		m, err := c.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (t TLS) config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %q: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls: cannot load the client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Password returns password, or else the first line of file, or else the environment variable
// PasswordEnv; key names the setting in errors ("kafka.sasl"). It fails when none gives one.
func Password(password, file, key string) (string, error) {
	switch {
	case password != "":
		return password, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s.password_file: %w", key, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		password = strings.TrimRight(line, "\r")
	default:
		password = os.Getenv(PasswordEnv)
	}
	if password == "" {
		return "", fmt.Errorf("%s: no password: set password, password_file or %s", key, PasswordEnv)
	}
	return password, nil
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	pass, err := Password(s.Password, s.PasswordFile, "kafka.sasl")
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(s.Mechanism) {
	case MechanismPlain:
		return plain.Auth{User: s.Username, Pass: pass}.AsMechanism(), nil
	case MechanismSCRAMSHA256:
		return scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism(), nil
	}
	return scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism(), nil
}
