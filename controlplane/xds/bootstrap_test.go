package xds

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestEnvoyBootstrapParsesValidatesAndMatchesTheControlPlane reads edge/envoy/bootstrap.yaml into
// the Bootstrap proto (unknown fields rejected), validates it deeply (every Any unpacked), and
// checks it agrees with the control plane's defaults. The apicheck module decodes the same
// file with the Envoy 1.33-era protos.
func TestEnvoyBootstrapParsesValidatesAndMatchesTheControlPlane(t *testing.T) {
	bs := readBootstrap(t)
	if err := validateBootstrap(bs); err != nil {
		t.Fatalf("edge/envoy/bootstrap.yaml fails validation: %v", err)
	}

	if a := bs.GetAdmin().GetAddress().GetSocketAddress().GetAddress(); !net.ParseIP(a).IsLoopback() {
		t.Errorf("admin listens on %q, want loopback only", a)
	}
	if bs.GetNode().GetCluster() != "ingest-edge" {
		t.Errorf("node.cluster %q", bs.GetNode().GetCluster())
	}
	dr := bs.GetDynamicResources()
	if dr.GetLdsConfig().GetAds() == nil || dr.GetCdsConfig().GetAds() == nil {
		t.Error("LDS and CDS do not come over ADS")
	}
	xdsCluster := dr.GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	var addr string
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() == xdsCluster {
			sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
			addr = net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
			if c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil {
				t.Error("the xds cluster does not speak HTTP/2")
			}
		}
	}
	if addr != DefaultConfig().ListenAddress {
		t.Errorf("ADS goes to %q, the control plane listens on %q by default", addr, DefaultConfig().ListenAddress)
	}
	om := bs.GetOverloadManager()
	if len(om.GetResourceMonitors()) == 0 || om.GetResourceMonitors()[0].GetName() != "envoy.resource_monitors.fixed_heap" || len(om.GetActions()) == 0 {
		t.Error("no overload manager on the fixed heap")
	}
	layers := bs.GetLayeredRuntime().GetLayers()
	if len(layers) == 0 || layers[len(layers)-1].GetAdminLayer() == nil {
		t.Error("no admin runtime layer: runtime keys in routes could not be changed")
	}
}

// readBootstrap reads edge/envoy/bootstrap.yaml into the Bootstrap proto (unknown fields
// rejected).
func readBootstrap(t *testing.T) *bootstrap.Bootstrap {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "edge", "envoy", "bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yamlToJSON(src)
	if err != nil {
		t.Fatalf("cannot read edge/envoy/bootstrap.yaml: %v", err)
	}
	bs := &bootstrap.Bootstrap{}
	if err := protojson.Unmarshal(js, bs); err != nil {
		t.Fatalf("edge/envoy/bootstrap.yaml is not a Bootstrap: %v", err)
	}
	return bs
}

// validateBootstrap deep-validates a bootstrap as Validate does a snapshot's resources (every
// Any unpacked), with the bootstrap's own checks (mutual TLS to the control plane).
func validateBootstrap(bs *bootstrap.Bootstrap) error {
	v := newValidator()
	v.message("bootstrap", bs)
	return errors.Join(v.errs...)
}

// TestEnvoyBootstrapSpeaksMutualTLSToTheControlPlane checks the xds_cluster's TLS against the
// control plane's server (ALPN h2, TLS 1.2+, a client certificate, a CA and a SAN matching
// the address it dials), and that the validator refuses a bootstrap that weakens any of it.
func TestEnvoyBootstrapSpeaksMutualTLSToTheControlPlane(t *testing.T) {
	bs := readBootstrap(t)
	xdsCluster := func(b *bootstrap.Bootstrap) *cluster.Cluster {
		for _, c := range b.GetStaticResources().GetClusters() {
			if c.GetName() == "xds_cluster" {
				return c
			}
		}
		t.Fatal("no xds_cluster")
		return nil
	}
	c := xdsCluster(bs)
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatalf("the xds cluster's transport socket is not an UpstreamTlsContext: %v", err)
	}
	cc := ctx.GetCommonTlsContext()
	sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if m := cc.GetValidationContext().GetMatchTypedSubjectAltNames(); len(m) != 1 || m[0].GetMatcher().GetExact() != sa.GetAddress() {
		t.Errorf("the SAN matcher %v does not name the address dialled, %s (the Go edge's default server name)", m, sa.GetAddress())
	}
	if cc.GetTlsParams().GetTlsMaximumProtocolVersion() != tlsv3.TlsParameters_TLSv1_3 {
		t.Error("TLS 1.3 is not allowed toward the control plane")
	}

	for _, tc := range []struct {
		name string
		mod  func(*tlsv3.CommonTlsContext)
		want string
	}{
		{"no client certificate", func(c *tlsv3.CommonTlsContext) { c.TlsCertificates = nil }, "tls_certificates is empty"},
		{"no CA", func(c *tlsv3.CommonTlsContext) { c.GetValidationContext().TrustedCa = nil }, "trusted_ca is not set"},
		{"no SAN matcher", func(c *tlsv3.CommonTlsContext) { c.GetValidationContext().MatchTypedSubjectAltNames = nil }, "match_typed_subject_alt_names is empty"},
		{"no ALPN", func(c *tlsv3.CommonTlsContext) { c.AlpnProtocols = nil }, "alpn_protocols must offer h2"},
		{"TLS 1.0", func(c *tlsv3.CommonTlsContext) { c.TlsParams.TlsMinimumProtocolVersion = tlsv3.TlsParameters_TLSv1_0 }, "tls_minimum_protocol_version TLSv1_0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := proto.Clone(bs).(*bootstrap.Bootstrap)
			c := xdsCluster(b)
			u := &tlsv3.UpstreamTlsContext{}
			if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(u); err != nil {
				t.Fatal(err)
			}
			tc.mod(u.GetCommonTlsContext())
			a, err := anypb.New(u)
			if err != nil {
				t.Fatal(err)
			}
			c.TransportSocket.ConfigType = &core.TransportSocket_TypedConfig{TypedConfig: a}
			if err := validateBootstrap(b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validation = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("plaintext", func(t *testing.T) {
		b := proto.Clone(bs).(*bootstrap.Bootstrap)
		xdsCluster(b).TransportSocket = nil
		if err := validateBootstrap(b); err == nil || !strings.Contains(err.Error(), "transport_socket must hold an UpstreamTlsContext") {
			t.Errorf("validation = %v", err)
		}
	})
}

func TestYAMLSubsetReader(t *testing.T) {
	src := `# comment
a: 1   # trailing comment
b:
  c: "x # not a comment"
  d: {}
list:
- name: one
  value: 0.5
- two
nested:
  - k: v
    deeper:
      e: true
empty: []
`
	js, err := yamlToJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":1,"b":{"c":"x # not a comment","d":{}},"empty":[],"list":[{"name":"one","value":0.5},"two"],"nested":[{"deeper":{"e":true},"k":"v"}]}`
	if string(js) != want {
		t.Fatalf("got  %s\nwant %s", js, want)
	}
	for _, bad := range []string{"a: 1\na: 2\n", "a:\n\tb: 1\n", "a: [1, 2]\n", "a: 1\n  b: 2\n"} {
		if _, err := yamlToJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// yamlToJSON converts the block-style YAML subset of edge/envoy/bootstrap.yaml to JSON: block
// mappings and sequences, plain and double-quoted scalars, "{}", "[]" and # comments. Plain
// scalars are booleans, null, numbers or strings as in YAML 1.2's core schema. Anything else
// (flow collections with content, anchors, multi-line scalars, tabs) is an error, so that a
// construct it does not understand cannot pass silently.
func yamlToJSON(src []byte) ([]byte, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(string(src), "\n") {
		if strings.Contains(raw, "\t") {
			return nil, fmt.Errorf("line %d: tabs are not supported", i+1)
		}
		content := stripComment(raw)
		if strings.TrimSpace(content) == "" {
			continue
		}
		indent := len(content) - len(strings.TrimLeft(content, " "))
		lines = append(lines, yamlLine{no: i + 1, indent: indent, text: strings.TrimSpace(content)})
	}
	if len(lines) == 0 {
		return []byte("null"), nil
	}
	p := &yamlParser{lines: lines}
	v, err := p.block(lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].no)
	}
	return json.Marshal(v)
}

type yamlLine struct {
	no, indent int
	text       string
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

func stripComment(s string) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"' && (i == 0 || s[i-1] != '\\'):
			inQuote = !inQuote
		case s[i] == '#' && !inQuote && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func (p *yamlParser) block(indent int) (any, error) {
	if isSeqItem(p.lines[p.i].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) sequence(indent int) (any, error) {
	out := []any{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && isSeqItem(p.lines[p.i].text) {
		l := p.lines[p.i]
		rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		switch {
		case rest == "":
			p.i++
			if p.i >= len(p.lines) || p.lines[p.i].indent <= indent {
				out = append(out, nil)
				continue
			}
			v, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		case isMappingEntry(rest):
			// "- key: value" starts a mapping indented like its first key.
			p.lines[p.i] = yamlLine{no: l.no, indent: indent + (len(l.text) - len(rest)), text: rest}
			v, err := p.mapping(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		default:
			v, err := scalar(rest, l.no)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			p.i++
		}
	}
	return out, nil
}

func (p *yamlParser) mapping(indent int) (any, error) {
	out := map[string]any{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && !isSeqItem(p.lines[p.i].text) {
		l := p.lines[p.i]
		key, rest, err := splitEntry(l.text, l.no)
		if err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.no, key)
		}
		p.i++
		if rest != "" {
			if out[key], err = scalar(rest, l.no); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case p.i < len(p.lines) && p.lines[p.i].indent > indent:
			out[key], err = p.block(p.lines[p.i].indent)
		case p.i < len(p.lines) && p.lines[p.i].indent == indent && isSeqItem(p.lines[p.i].text):
			out[key], err = p.sequence(indent)
		default:
			out[key] = nil
		}
		if err != nil {
			return nil, err
		}
	}
	if p.i < len(p.lines) && p.lines[p.i].indent > indent {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].no)
	}
	return out, nil
}

func isMappingEntry(s string) bool {
	_, _, err := splitEntry(s, 0)
	return err == nil
}

// splitEntry splits "key: value" or "key:"; the key may be double-quoted.
func splitEntry(s string, no int) (key, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		end := strings.Index(s[1:], `"`)
		if end < 0 {
			return "", "", fmt.Errorf("line %d: unterminated quoted key", no)
		}
		key, s = s[1:end+1], s[end+2:]
		if !strings.HasPrefix(s, ":") {
			return "", "", fmt.Errorf("line %d: want ':' after %q", no, key)
		}
		return key, strings.TrimSpace(s[1:]), nil
	}
	if k, r, ok := strings.Cut(s, ": "); ok {
		return k, strings.TrimSpace(r), nil
	}
	if strings.HasSuffix(s, ":") {
		return strings.TrimSuffix(s, ":"), "", nil
	}
	return "", "", fmt.Errorf("line %d: %q is not a key: value entry", no, s)
}

func scalar(s string, no int) (any, error) {
	switch {
	case s == "{}":
		return map[string]any{}, nil
	case s == "[]":
		return []any{}, nil
	case strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") || strings.HasPrefix(s, "&") || strings.HasPrefix(s, "*") ||
		strings.HasPrefix(s, "|") || strings.HasPrefix(s, ">") || strings.HasPrefix(s, "'"):
		return nil, fmt.Errorf("line %d: %q: only block style, plain and double-quoted scalars are supported", no, s)
	case strings.HasPrefix(s, `"`):
		u, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad quoted string %s: %v", no, s, err)
		}
		return u, nil
	case s == "true" || s == "false":
		return s == "true", nil
	case s == "null" || s == "~":
		return nil, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_") {
		return f, nil
	}
	return s, nil
}
