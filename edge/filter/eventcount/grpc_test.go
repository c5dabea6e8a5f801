package eventcount

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ingestdev/ingest/internal/grpcwire"
)

// grpcKinds are the gRPC kinds, in the order of protoKinds.
var grpcKinds = []Kind{OTLPLogsGRPC, OTLPMetricsGRPC, OTLPTracesGRPC}

func compressedFrame(t testing.TB, msg []byte) []byte {
	b := grpcwire.AppendMessage(nil, gzipped(t, msg))
	b[0] = 1
	return b
}

// TestGRPCBodiesCountAsTheirMessage checks that a gRPC body counts as its protobuf message,
// framed plainly or compressed (through Gunzip, as the filter reads grpc-encoding gzip), on
// the same random requests the protobuf parity test uses.
func TestGRPCBodiesCountAsTheirMessage(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	var g Gunzip
	for i, k := range grpcKinds {
		s := signalOf(protoKinds[i])
		for j := range rounds(100) {
			p := mustRandom(t, s, gen{r: r, size: 1 + j%3})
			msg, want := p.proto, p.count
			framed := grpcwire.AppendMessage(nil, msg)
			if n, err := Count(k, framed); err != nil || n != want {
				t.Fatalf("%s: Count = %d, %v; its message counts %d", k, n, err, want)
			}
			if n, d, err := g.Count(k, framed, 1<<30); err != nil || n != want || d != int64(len(msg)) {
				t.Fatalf("%s: Gunzip.Count of an uncompressed message = %d, %d, %v; want %d, %d", k, n, d, err, want, len(msg))
			}
			if n, d, err := g.Count(k, compressedFrame(t, msg), 1<<30); err != nil || n != want || d != int64(len(msg)) {
				t.Fatalf("%s: Gunzip.Count of a compressed message = %d, %d, %v; want %d, %d", k, n, d, err, want, len(msg))
			}
		}
	}
}

func TestGRPCBodiesThatAreNotOneMessage(t *testing.T) {
	one := grpcwire.AppendMessage(nil, []byte{0x0a, 0x00}) // one empty resource_logs
	bad := grpcwire.AppendMessage(nil, []byte{0x0a, 0x05}) // truncated field
	var g Gunzip
	for name, tc := range map[string]struct {
		body       []byte
		gunzipToo  bool
		wantOffset int
	}{
		"empty body":          {nil, true, 0},
		"two messages":        {append(append([]byte{}, one...), one...), true, len(one)},
		"truncated message":   {one[:len(one)-1], true, 1},
		"malformed message":   {bad, true, grpcwire.HeaderLen},
		"compressed, no gzip": {compressedFrame(t, []byte{0x0a, 0x00}), false, 0},
	} {
		_, err := Count(OTLPLogsGRPC, tc.body)
		var me *MalformedError
		if !errors.As(err, &me) || me.Kind != OTLPLogsGRPC || me.Offset != tc.wantOffset {
			t.Errorf("%s: Count error = %#v, want a *MalformedError of %s at byte %d", name, err, OTLPLogsGRPC, tc.wantOffset)
		}
		if !tc.gunzipToo {
			continue
		}
		if _, _, err := g.Count(OTLPLogsGRPC, tc.body, 1<<20); !errors.As(err, &me) || me.Kind != OTLPLogsGRPC {
			t.Errorf("%s: Gunzip.Count error = %#v, want a *MalformedError of %s", name, err, OTLPLogsGRPC)
		}
	}
	// A compressed message that is not gzip, and one that inflates past the limit.
	notGzip := grpcwire.AppendMessage(nil, []byte("not gzip"))
	notGzip[0] = 1
	var me *MalformedError
	if _, _, err := g.Count(OTLPTracesGRPC, notGzip, 1<<20); !errors.As(err, &me) || me.Err == nil {
		t.Errorf("a compressed message that is not gzip: error %#v, want a *MalformedError with the decompressor's error", err)
	}
	big := compressedFrame(t, make([]byte, 4096))
	var tl *DecompressedTooLargeError
	if _, _, err := g.Count(OTLPMetricsGRPC, big, 1024); !errors.As(err, &tl) || tl.Limit != 1024 {
		t.Errorf("a message inflating past the limit: error %#v, want a *DecompressedTooLargeError", err)
	}
}

// FuzzCountGRPC checks the strong form of exactness through the gRPC framing: a body whose
// message pdata decodes counts pdata's items; any failure is a *MalformedError of the gRPC
// kind with an offset in the body.
func FuzzCountGRPC(f *testing.F) {
	f.Add(uint8(0), grpcwire.AppendMessage(nil, []byte{0x0a, 0x04, 0x12, 0x02, 0x12, 0x00}))
	f.Add(uint8(1), []byte{0, 0, 0, 0, 1, 0x0a})
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		k := grpcKinds[int(sel)%len(grpcKinds)]
		n, err := Count(k, body)
		if msg, compressed, ferr := grpcwire.Unary(body); ferr == nil && !compressed {
			if want, perr := signalOf(k.message()).decodeProt(msg); perr == nil && (err != nil || n != want) {
				t.Fatalf("%s: Count = %d, %v; pdata decodes %d items", k, n, err, want)
			}
		}
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || me.Kind != k || me.Offset < 0 || me.Offset > len(body) {
				t.Fatalf("%s: error %#v is not a *MalformedError with an offset in the body", k, err)
			}
		}
	})
}
