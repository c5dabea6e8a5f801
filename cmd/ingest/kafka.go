package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/internal/embedkafka"
)

// kafkaFlags binds the flags of `ingest kafka`: an embedded Kafka (franz-go's kfake) keeping
// its log in a data directory, for laptops and CI. Durability: without --sync-writes an
// acknowledged batch has been written to the OS page cache, so it survives kill -9 of this
// process but not a machine crash; with --sync-writes it is fsynced before the ack. See
// package embedkafka.
func kafkaFlags(fs *flag.FlagSet, cfg *embedkafka.ServiceConfig) {
	k := &cfg.Kafka
	fs.StringVar(&k.DataDir, "data-dir", k.DataDir, "directory of the log and state; reloaded at start, locked while running")
	config.ListVar(fs, &k.Listen, "listen", "broker addresses, host:port, comma-separated, one broker each; the host is advertised to clients")
	fs.BoolVar(&k.SyncWrites, "sync-writes", k.SyncWrites, "fsync every produced batch before acknowledging it (survives a machine crash; slower)")
	fs.IntVar(&k.DefaultPartitions, "default-partitions", k.DefaultPartitions, "partitions of topics created without a count")
	fs.StringVar(&k.TLSCertFile, "tls-cert", k.TLSCertFile, "serve TLS only, with this PEM certificate (with --tls-key)")
	fs.StringVar(&k.TLSKeyFile, "tls-key", k.TLSKeyFile, "the key of --tls-cert")
	fs.Func("sasl-user", "require SASL with this user, MECHANISM:username (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; repeatable), its password from INGEST_KAFKA_SASL_PASSWORD", func(v string) error {
		mech, user, ok := strings.Cut(v, ":")
		if !ok || user == "" {
			return fmt.Errorf("%q is not MECHANISM:username", v)
		}
		k.SASLUsers = append(k.SASLUsers, embedkafka.SASLUser{Mechanism: mech, Username: user})
		return nil
	})
	fs.StringVar(&cfg.AdminListen, "admin-listen", cfg.AdminListen, "address of /healthz, /readyz and /metrics; empty for none")
}
