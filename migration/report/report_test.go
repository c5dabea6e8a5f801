package report

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidateNamesEveryProblem(t *testing.T) {
	good := Report{Source: SourceEdge, Instance: "node-1-abc", Seq: 1, Start: 1000, End: 2000,
		Tenants: map[string]Counts{"acme": {V2Requests: 2, V2ServerErrors: 1, V2LatencyBuckets: make([]uint64, len(LatencyBucketsMs)+1)}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Report{Source: "router", Start: 3000, End: 2000, Tenants: map[string]Counts{
		"Bad_Id": {}, "acme": {V2LatencyBuckets: []uint64{1}}, "globex": {V2ServerErrors: 2, V2Requests: 1}}}
	err := bad.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v does not wrap ErrInvalid", err)
	}
	for _, want := range []string{"source", "instance must not be empty", "start_unix_ms 3000", "tenant id", "v2_latency_buckets has 1 counts, want 12", "v2_server_errors 2 exceed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	many := Report{Source: SourceLoader, Instance: "x", End: 1, Tenants: map[string]Counts{}}
	for i := range MaxTenants + 1 {
		many.Tenants["t"+strconv.Itoa(i)] = Counts{}
	}
	if err := many.Validate(); err == nil || !strings.Contains(err.Error(), "exceed the limit of 10000") {
		t.Fatalf("too many tenants: %v", err)
	}
}

func FuzzDecodeAndValidate(f *testing.F) {
	f.Add([]byte(`{"source":"edge","instance":"a","seq":1,"start_unix_ms":1,"end_unix_ms":2,"tenants":{"acme":{"v1_accepted_events":3}}}`))
	f.Add([]byte(`{"source":"loader","tenants":{"":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Report
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if err := r.Validate(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
	})
}
