package xds

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValidOnceFilesAreGiven(t *testing.T) {
	c := Config{CertFile: "c.pem", KeyFile: "k.pem", ServerTLS: unusedServerTLS()}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ListenAddress != "127.0.0.1:18000" || c.ListenerPort != 8443 || c.Debounce != 100*time.Millisecond {
		t.Errorf("defaults %+v", c)
	}
	c2 := Config{CertFile: "c.pem", KeyFile: "k.pem", ServerTLS: unusedServerTLS(), ListenerPort: 9443, Edge: EdgeLimits{MaxRequestBodyBytes: 1 << 20}}.WithDefaults()
	if c2.ListenerPort != 9443 || c2.Edge.MaxRequestBodyBytes != 1<<20 || c2.Edge.MaxInFlightBytes != 256<<20 {
		t.Errorf("WithDefaults overrode set fields: %+v", c2)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.ListenAddress = "nohostport"
	c.ListenerPort = 70000
	c.Edge.MaxRequestBodyBytes = c.Edge.MaxInFlightBytes + 1
	c.Edge.DefaultRetryAfter = 1500 * time.Millisecond
	c.Upstream.MaxRetries = 0
	c.Debounce = time.Second
	err := c.Validate()
	for _, want := range []string{
		"xds.listen_address", "xds.cert_file is required", "xds.key_file is required", "xds.listener_port 70000",
		"xds.edge.max_request_body_bytes", "xds.edge.default_retry_after 1.5s", "xds.upstream.max_retries", "xds.debounce 1s",
		"xds.server_tls.cert_file is required", "xds.server_tls.key_file is required", "xds.server_tls.client_ca_file is required",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\ndoes not mention %q", err, want)
		}
	}
}

func TestServerTLSInsecureIsExplicitAndLoopbackOnly(t *testing.T) {
	c := testConfig()
	c.ServerTLS = ServerTLSConfig{Insecure: true}
	if err := c.Validate(); err != nil {
		t.Fatalf("insecure on the loopback default: %v", err)
	}
	c.ListenAddress = "0.0.0.0:18000"
	c.ServerTLS = ServerTLSConfig{Insecure: true, ClientCAFile: "ca.pem", AllowedClientNames: []string{"edge"}}
	err := c.Validate()
	for _, want := range []string{"xds.server_tls.insecure needs a loopback xds.listen_address", "xds.server_tls.insecure excludes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\ndoes not mention %q", err, want)
		}
	}
}
