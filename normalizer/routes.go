package normalizer

import (
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// endpoints are the ingest routes, served under /v1/<name>.
var endpoints = []*endpoint{
	{
		name: "logs", signal: "log", otlp: true, grpcPath: grpcLogsPath,
		decode: func(_ *Server, b []byte, f otlpFormat, e *emitter) error { return decodeOTLPLogs(b, f, e) },
		response: func(f otlpFormat, rejected int64, msg string) ([]byte, error) {
			r := plogotlp.NewExportResponse()
			return otlpAnswer(f, r, rejected, msg, r.PartialSuccess().SetRejectedLogRecords, r.PartialSuccess().SetErrorMessage)
		},
	},
	{
		name: "metrics", signal: "metric", otlp: true, grpcPath: grpcMetricsPath,
		decode: func(_ *Server, b []byte, f otlpFormat, e *emitter) error { return decodeOTLPMetrics(b, f, e) },
		response: func(f otlpFormat, rejected int64, msg string) ([]byte, error) {
			r := pmetricotlp.NewExportResponse()
			return otlpAnswer(f, r, rejected, msg, r.PartialSuccess().SetRejectedDataPoints, r.PartialSuccess().SetErrorMessage)
		},
	},
	{
		name: "traces", signal: "span", otlp: true, grpcPath: grpcTracesPath,
		decode: func(_ *Server, b []byte, f otlpFormat, e *emitter) error { return decodeOTLPTraces(b, f, e) },
		response: func(f otlpFormat, rejected int64, msg string) ([]byte, error) {
			r := ptraceotlp.NewExportResponse()
			return otlpAnswer(f, r, rejected, msg, r.PartialSuccess().SetRejectedSpans, r.PartialSuccess().SetErrorMessage)
		},
	},
	{
		name: "events", signal: "event",
		decode: func(s *Server, b []byte, _ otlpFormat, e *emitter) error {
			p := s.parsers.Get()
			defer s.parsers.Put(p)
			return decodeNDJSON(p, b, e)
		},
	},
}

// unknownEndpoint is the endpoint label of requests to a path no endpoint serves.
const unknownEndpoint = "unknown"

// path is the one path the endpoint serves, matched exactly as sent (Server.route).
func (ep *endpoint) path() string { return "/v1/" + ep.name }

// otlpResponse is an OTLP Export*ServiceResponse of pdata.
type otlpResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// otlpAnswer marshals r in format f, with its partial success (the rejected count and msg,
// through the setters) when rejected > 0.
func otlpAnswer(f otlpFormat, r otlpResponse, rejected int64, msg string, setRejected func(int64), setMessage func(string)) ([]byte, error) {
	if rejected > 0 {
		setRejected(rejected)
		setMessage(msg)
	}
	if f == otlpProto {
		return r.MarshalProto()
	}
	return r.MarshalJSON()
}
