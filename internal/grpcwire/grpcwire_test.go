package grpcwire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

func TestUnary(t *testing.T) {
	msg := []byte("hello")
	framed := AppendMessage(nil, msg)
	if want := []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}; !bytes.Equal(framed, want) {
		t.Fatalf("AppendMessage = %v, want %v", framed, want)
	}
	got, compressed, err := Unary(framed)
	if err != nil || compressed || !bytes.Equal(got, msg) {
		t.Fatalf("Unary = %q, %v, %v; want %q, false, nil", got, compressed, err, msg)
	}
	gz := append([]byte{}, framed...)
	gz[0] = 1
	if _, compressed, err := Unary(gz); err != nil || !compressed {
		t.Fatalf("Unary of a compressed message = %v, %v; want true, nil", compressed, err)
	}
	if got, _, err := Unary([]byte{0, 0, 0, 0, 0}); err != nil || len(got) != 0 {
		t.Fatalf("Unary of an empty message = %q, %v; want it (an empty Export request is valid)", got, err)
	}
	for name, body := range map[string][]byte{
		"empty":          nil,
		"short prefix":   {0, 0, 0},
		"flag 2":         {2, 0, 0, 0, 0},
		"truncated":      {0, 0, 0, 0, 9, 'a'},
		"two messages":   append(AppendMessage(nil, msg), AppendMessage(nil, msg)...),
		"trailing bytes": append(AppendMessage(nil, msg), 0),
		"huge length":    {0, 0xff, 0xff, 0xff, 0xff},
	} {
		_, _, err := Unary(body)
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Errorf("%s: Unary error = %v, want a *FrameError", name, err)
		}
	}
}

// TestCodeMatchesGRPCCodes checks the constants against grpc-go's and the table the package
// documents.
func TestCodeMatchesGRPCCodes(t *testing.T) {
	for c, want := range map[int]codes.Code{OK: codes.OK, InvalidArgument: codes.InvalidArgument, NotFound: codes.NotFound,
		ResourceExhausted: codes.ResourceExhausted, Unimplemented: codes.Unimplemented, Internal: codes.Internal,
		Unavailable: codes.Unavailable, Unauthenticated: codes.Unauthenticated} {
		if c != int(want) {
			t.Errorf("constant %d, grpc-go's %s is %d", c, want, want)
		}
	}
	for status, want := range map[int]codes.Code{200: codes.OK, 400: codes.InvalidArgument, 401: codes.Unauthenticated, 404: codes.NotFound,
		405: codes.Unimplemented, 415: codes.Unimplemented, 413: codes.ResourceExhausted, 429: codes.ResourceExhausted,
		503: codes.Unavailable, 500: codes.Internal, 502: codes.Internal} {
		if got := Code(status); got != int(want) {
			t.Errorf("Code(%d) = %d, want %s", status, got, want)
		}
	}
}

func TestStatusDetailsCarryRetryInfo(t *testing.T) {
	decode := func(v string) *spb.Status {
		t.Helper()
		b, err := base64.RawStdEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		var st spb.Status
		if err := proto.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return &st
	}
	st := decode(StatusDetails(ResourceExhausted, "over quota", 2*time.Second))
	if st.Code != ResourceExhausted || st.Message != "over quota" || len(st.Details) != 1 {
		t.Fatalf("status = %v", st)
	}
	var ri errdetails.RetryInfo
	if err := st.Details[0].UnmarshalTo(&ri); err != nil || ri.RetryDelay.AsDuration() != 2*time.Second {
		t.Fatalf("details = %v (%v), want RetryInfo of 2s", st.Details[0], err)
	}
	if st := decode(StatusDetails(InvalidArgument, "bad", 0)); len(st.Details) != 0 {
		t.Fatalf("no delay: details = %v, want none", st.Details)
	}
}

func TestEncodeMessage(t *testing.T) {
	if got, want := EncodeMessage("100% full\n é~"), "100%25 full%0A %C3%A9%7E"; got != want {
		t.Fatalf("EncodeMessage = %q, want %q", got, want)
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{"application/grpc": true, "application/grpc+proto": true, "application/grpc;x=y": false,
		"application/grpc-web": false, "application/json": false, "": false} {
		if IsGRPC(ct) != want {
			t.Errorf("IsGRPC(%q) = %v, want %v", ct, !want, want)
		}
	}
}
