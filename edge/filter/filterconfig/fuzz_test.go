package filterconfig

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
)

// FuzzParse feeds Parse arbitrary JSON documents wrapped as the control plane wraps them. Parse
// must never panic, and whatever it accepts must survive Encode and Parse unchanged.
// The committed seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validJSON))
	f.Fuzz(func(t *testing.T, js []byte) {
		st := &structpb.Struct{}
		if err := protojson.Unmarshal(js, st); err != nil {
			return
		}
		a, err := anypb.New(&xdstype.TypedStruct{TypeUrl: TypeURL, Value: st})
		if err != nil {
			return
		}
		cfg, err := Parse(a)
		if err != nil {
			return
		}
		again, err := Encode(cfg)
		if err != nil {
			t.Fatalf("Parse accepted a config that Encode rejects: %v", err)
		}
		cfg2, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse rejects what Encode produced: %v", err)
		}
		third, err := Encode(cfg2)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(again, third) {
			t.Fatal("Encode(Parse(Encode(cfg))) differs from Encode(cfg)")
		}
	})
}

// FuzzParseAny feeds Parse arbitrary bytes as the Any's value: what a corrupted or hostile
// plugin_config looks like to the filter. Parse must never panic.
func FuzzParseAny(f *testing.F) {
	a, err := anypb.New(&xdstype.TypedStruct{TypeUrl: TypeURL, Value: &structpb.Struct{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.GetValue())
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(&anypb.Any{TypeUrl: TypedStructTypeURL, Value: b})
	})
}
