package filterconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Encode validates cfg and encodes it as the golang filter's plugin_config: an Any holding an
// xds.type.v3.TypedStruct with type_url [TypeURL]. The encoding is deterministic: equal configs
// give equal bytes, so the control plane can tell a changed configuration from an unchanged
// one. cfg is not modified.
func Encode(cfg *Config) (*anypb.Any, error) {
	if cfg == nil {
		return nil, errors.New("cannot encode edge filter config: config is nil")
	}
	norm := normalized(cfg)
	if err := norm.Validate(); err != nil {
		return nil, fmt.Errorf("cannot encode edge filter config: %w", err)
	}
	js, err := json.Marshal(norm)
	if err != nil {
		return nil, fmt.Errorf("cannot encode edge filter config as JSON: %w", err)
	}
	value := &structpb.Struct{}
	if err := protojson.Unmarshal(js, value); err != nil {
		return nil, fmt.Errorf("cannot convert edge filter config to a Struct: %w", err)
	}
	out := &anypb.Any{}
	ts := &xdstype.TypedStruct{TypeUrl: TypeURL, Value: value}
	if err := anypb.MarshalFrom(out, ts, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("cannot marshal edge filter config %q: %w", TypeURL, err)
	}
	return out, nil
}

// Parse decodes and strictly validates a plugin_config produced by [Encode]. It is what the
// edge filter's config parser calls, and what the control plane runs on every configuration
// before serving it. It rejects: a nil Any, an Any that is not a TypedStruct, a TypedStruct with
// unknown fields or another type_url, unknown JSON fields at any depth, and everything
// [Config.Validate] rejects. The returned Config has its tenants and key lists sorted.
func Parse(a *anypb.Any) (*Config, error) {
	if a == nil {
		return nil, errors.New("cannot parse edge filter config: plugin_config is missing")
	}
	if a.GetTypeUrl() != TypedStructTypeURL {
		return nil, fmt.Errorf("cannot parse edge filter config of type %q: want %q", a.GetTypeUrl(), TypedStructTypeURL)
	}
	ts := &xdstype.TypedStruct{}
	if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
		return nil, fmt.Errorf("cannot unmarshal edge filter config TypedStruct: %w", err)
	}
	if len(ts.ProtoReflect().GetUnknown()) > 0 {
		return nil, errors.New("cannot parse edge filter config: TypedStruct has unknown fields")
	}
	if ts.GetTypeUrl() != TypeURL {
		return nil, fmt.Errorf("cannot parse edge filter config with type_url %q: want %q", ts.GetTypeUrl(), TypeURL)
	}
	if ts.GetValue() == nil {
		return nil, fmt.Errorf("cannot parse edge filter config %q: value is missing", TypeURL)
	}
	js, err := protojson.Marshal(ts.GetValue())
	if err != nil {
		return nil, fmt.Errorf("cannot convert edge filter config %q to JSON: %w", TypeURL, err)
	}
	cfg, err := decodeJSON(js)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cannot parse edge filter config: %w", err)
	}
	sortConfig(cfg)
	return cfg, nil
}

// decodeJSON decodes exactly one JSON object into a Config, rejecting unknown fields.
func decodeJSON(js []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	cfg := &Config{}
	if err := dec.Decode(cfg); err != nil {
		return nil, fmt.Errorf("cannot decode edge filter config %q: %w", TypeURL, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot decode edge filter config %q: trailing data after the object", TypeURL)
	}
	return cfg, nil
}

// normalized returns a copy of cfg with sorted tenants and key lists.
func normalized(cfg *Config) *Config {
	out := &Config{
		Tenants:        slices.Clone(cfg.Tenants),
		Limits:         cfg.Limits,
		MarkerHeader:   cfg.MarkerHeader,
		ReportURL:      cfg.ReportURL,
		ReportToken:    cfg.ReportToken,
		ReportInterval: cfg.ReportInterval,
		HopKey:         cfg.HopKey,
	}
	if cfg.Keys != nil {
		out.Keys = make(map[string][]Key, len(cfg.Keys))
		for p, ks := range cfg.Keys {
			out.Keys[p] = slices.Clone(ks)
		}
	}
	sortConfig(out)
	return out
}

func sortConfig(cfg *Config) {
	slices.SortStableFunc(cfg.Tenants, func(a, b Tenant) int { return strings.Compare(a.ID, b.ID) })
	for _, ks := range cfg.Keys {
		slices.SortStableFunc(ks, func(a, b Key) int {
			if c := strings.Compare(a.Tenant, b.Tenant); c != 0 {
				return c
			}
			if c := strings.Compare(a.ID, b.ID); c != 0 {
				return c
			}
			return bytes.Compare(a.Hash, b.Hash)
		})
	}
}
