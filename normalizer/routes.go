package normalizer

import (
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// endpoints are the ingest routes, served under /v1/<name>.
var endpoints = []*endpoint{
	{
		name: "logs", signal: "log", otlp: true,
		decode: func(_ *Server, b []byte, f otlpFormat, e *emitter) error { return decodeOTLPLogs(b, f, e) },
		response: func(f otlpFormat, rejected int64, msg string) ([]byte, error) {
			r := plogotlp.NewExportResponse()
			if rejected > 0 {
				r.PartialSuccess().SetRejectedLogRecords(rejected)
				r.PartialSuccess().SetErrorMessage(msg)
			}
			return marshalResponse(f, r.MarshalProto, r.MarshalJSON)
		},
	},
	{
		name: "metrics", signal: "metric", otlp: true,
		decode: func(_ *Server, b []byte, f otlpFormat, e *emitter) error { return decodeOTLPMetrics(b, f, e) },
		response: func(f otlpFormat, rejected int64, msg string) ([]byte, error) {
			r := pmetricotlp.NewExportResponse()
			if rejected > 0 {
				r.PartialSuccess().SetRejectedDataPoints(rejected)
				r.PartialSuccess().SetErrorMessage(msg)
			}
			return marshalResponse(f, r.MarshalProto, r.MarshalJSON)
		},
	},
	{
		name: "traces", signal: "span", otlp: true,
		decode: func(_ *Server, b []byte, f otlpFormat, e *emitter) error { return decodeOTLPTraces(b, f, e) },
		response: func(f otlpFormat, rejected int64, msg string) ([]byte, error) {
			r := ptraceotlp.NewExportResponse()
			if rejected > 0 {
				r.PartialSuccess().SetRejectedSpans(rejected)
				r.PartialSuccess().SetErrorMessage(msg)
			}
			return marshalResponse(f, r.MarshalProto, r.MarshalJSON)
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

func marshalResponse(f otlpFormat, protoFn, jsonFn func() ([]byte, error)) ([]byte, error) {
	if f == otlpProto {
		return protoFn()
	}
	return jsonFn()
}
