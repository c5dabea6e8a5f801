package grpcwire

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// HeaderLen is the length of a message's prefix: a compressed flag byte and a big-endian
// uint32 length.
const HeaderLen = 5

// gRPC status codes (google.golang.org/grpc/codes, without importing grpc-go).
const (
	OK                = 0
	InvalidArgument   = 3
	NotFound          = 5
	ResourceExhausted = 8
	Unimplemented     = 12
	Internal          = 13
	Unavailable       = 14
	Unauthenticated   = 16
)

// Trailer and header names of gRPC.
const (
	HeaderStatus        = "Grpc-Status"
	HeaderMessage       = "Grpc-Message"
	HeaderStatusDetails = "Grpc-Status-Details-Bin"
	HeaderEncoding      = "Grpc-Encoding"
	HeaderAcceptEncode  = "Grpc-Accept-Encoding"
	ContentType         = "application/grpc"
)

// FrameError says why a body is not one gRPC message.
type FrameError struct {
	// Offset is the byte offset of the fault in the body.
	Offset int
	// Reason says what is wrong.
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("not a gRPC unary request body: %s at byte %d", e.Reason, e.Offset)
}

// Unary returns the one message of a unary request body, and whether its compressed flag is
// set (the message is then in the request's grpc-encoding). A body without a whole message, or
// with more than one (a unary call carries exactly one), or with a flag other than 0 or 1, is a
// *FrameError. It does not allocate; msg aliases body.
func Unary(body []byte) (msg []byte, compressed bool, err error) {
	if len(body) < HeaderLen {
		return nil, false, &FrameError{Offset: 0, Reason: fmt.Sprintf("%d bytes, shorter than a message prefix", len(body))}
	}
	switch body[0] {
	case 0:
	case 1:
		compressed = true
	default:
		return nil, false, &FrameError{Offset: 0, Reason: fmt.Sprintf("compressed flag %d (want 0 or 1)", body[0])}
	}
	n := binary.BigEndian.Uint32(body[1:HeaderLen])
	rest := uint64(len(body) - HeaderLen)
	switch {
	case uint64(n) > rest:
		return nil, false, &FrameError{Offset: 1, Reason: fmt.Sprintf("message length %d, only %d bytes follow", n, rest)}
	case uint64(n) < rest:
		return nil, false, &FrameError{Offset: HeaderLen + int(n), Reason: "a second message (a unary call carries one)"}
	}
	return body[HeaderLen:], compressed, nil
}

// AppendMessage appends msg to dst with its prefix (uncompressed).
func AppendMessage(dst, msg []byte) []byte {
	dst = append(dst, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(msg)))
	return append(dst, msg...)
}

// IsGRPC reports whether a Content-Type is gRPC's: application/grpc, alone or followed by
// "+<codec>" (Envoy's Grpc::Common::hasGrpcContentType, which decides whether Envoy answers a
// request as gRPC; application/grpc-web is not gRPC).
func IsGRPC(contentType string) bool {
	rest, ok := strings.CutPrefix(contentType, ContentType)
	return ok && (rest == "" || rest[0] == '+')
}

// Code is the gRPC code of the pipeline's HTTP status, the same at every stage:
//
//	400 INVALID_ARGUMENT   401 UNAUTHENTICATED   404 NOT_FOUND
//	405, 415 UNIMPLEMENTED 413 RESOURCE_EXHAUSTED (no RetryInfo: never retried)
//	429 RESOURCE_EXHAUSTED (with RetryInfo)      503 UNAVAILABLE (with RetryInfo)
//	anything else INTERNAL
func Code(httpStatus int) int {
	switch httpStatus {
	case http.StatusOK:
		return OK
	case http.StatusBadRequest:
		return InvalidArgument
	case http.StatusUnauthorized:
		return Unauthenticated
	case http.StatusNotFound:
		return NotFound
	case http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		return Unimplemented
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return ResourceExhausted
	case http.StatusServiceUnavailable:
		return Unavailable
	}
	return Internal
}

// StatusDetails returns the value of grpc-status-details-bin for a refusal: a google.rpc.Status
// with the code and message and, when retryAfter > 0, a google.rpc.RetryInfo with that delay,
// which OTLP exporters wait for before they retry (and without which they do not retry
// RESOURCE_EXHAUSTED), base64 without padding as gRPC sends binary headers.
func StatusDetails(code int, message string, retryAfter time.Duration) string {
	st := &spb.Status{Code: int32(code), Message: message}
	if retryAfter > 0 {
		ri, err := anypb.New(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)})
		if err == nil {
			st.Details = append(st.Details, ri)
		}
	}
	b, err := proto.Marshal(st)
	if err != nil {
		return ""
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// EncodeMessage percent-encodes a grpc-message value as Envoy does (PercentEncoding::encode):
// every byte outside printable ASCII, '~' and '%' itself as %XX (gRPC asks it of the bytes
// outside 0x20-0x7e and '%'; a decoder reads %7E as '~' either way), so that the edge's local
// replies and the normalizer's answers spell a message alike.
func EncodeMessage(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= '~' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
