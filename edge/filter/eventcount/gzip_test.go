package eventcount

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func gzipped(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts { // one gzip member per part
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestGunzipCountsTheDecompressedBody(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var g Gunzip
	for _, s := range signals {
		p := mustRandom(t, s, gen{r: r, size: 3})
		for _, c := range p.bodies(s) {
			n, dec, err := g.Count(c.k, gzipped(t, c.body), 1<<20)
			if err != nil || n != p.count || dec != int64(len(c.body)) {
				t.Errorf("%s: Count = %d, %d bytes, %v; want %d, %d bytes", c.k, n, dec, err, p.count, len(c.body))
			}
		}
	}
	// Concatenated members are one body, as the normalizer reads them.
	n, dec, err := g.Count(NDJSON, gzipped(t, []byte("{}\n{}"), []byte("\n{}\n")), 1<<20)
	if err != nil || n != 3 || dec != 9 {
		t.Errorf("two members: Count = %d, %d bytes, %v; want 3, 9 bytes", n, dec, err)
	}
}

func TestGunzipStopsAtTheLimit(t *testing.T) {
	body := gzipped(t, bytes.Repeat([]byte("{}\n"), 100_000)) // 300,000 bytes
	var g Gunzip
	n, dec, err := g.Count(NDJSON, body, 299_999)
	var tl *DecompressedTooLargeError
	if !errors.As(err, &tl) || tl.Limit != 299_999 || n != 0 || dec != 300_000 {
		t.Errorf("Count = %d, %d bytes, %v; want a DecompressedTooLargeError after 300000 bytes", n, dec, err)
	}
	if n, dec, err := g.Count(NDJSON, body, 300_000); err != nil || n != 100_000 || dec != 300_000 {
		t.Errorf("at the limit: Count = %d, %d bytes, %v; want 100000 events", n, dec, err)
	}
	if got := err.Error(); !strings.Contains(got, "more than the 299999-byte limit") {
		t.Errorf("message %q does not say the limit", got)
	}
}

func TestGunzipRejectsBrokenBodies(t *testing.T) {
	good := gzipped(t, []byte("{}\n{}\n"))
	for _, tc := range []struct {
		name string
		body []byte
		is   error
	}{
		{"not gzip", []byte("{\"a\":1}\n{\"a\":2}\n"), gzip.ErrHeader},
		{"empty", nil, io.EOF},
		{"truncated", good[:len(good)-3], io.ErrUnexpectedEOF},
		{"bad checksum", append(bytes.Clone(good[:len(good)-8]), 0, 0, 0, 0, 6, 0, 0, 0), gzip.ErrChecksum},
		{"garbage after the member", append(bytes.Clone(good), "junk!!!!!!"...), gzip.ErrHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g Gunzip
			n, _, err := g.Count(NDJSON, tc.body, 1<<20)
			var me *MalformedError
			if !errors.As(err, &me) || me.Offset != -1 || !errors.Is(err, tc.is) || n != 0 {
				t.Errorf("Count = %d, %v; want a MalformedError wrapping %v", n, err, tc.is)
			}
			// The Gunzip still works afterwards.
			if n, _, err := g.Count(NDJSON, good, 1<<20); err != nil || n != 2 {
				t.Errorf("after the error: Count = %d, %v; want 2", n, err)
			}
		})
	}
	var g Gunzip
	_, _, err := g.Count(OTLPLogsProto, gzipped(t, []byte{0x0a, 0x05}), 1<<20)
	var me *MalformedError
	if !errors.As(err, &me) || me.Offset != 0 || me.Kind != OTLPLogsProto {
		t.Errorf("a truncated protobuf inside gzip: error %v, want a MalformedError at byte 0", err)
	}
}

func TestWarmGunzipDoesNotAllocate(t *testing.T) {
	body := gzipped(t, bytes.Repeat([]byte(`{"type":"log","body":"hello"}`+"\n"), 1000))
	var g Gunzip
	if _, _, err := g.Count(NDJSON, body, 1<<20); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(20, func() { g.Count(NDJSON, body, 1<<20) }); n != 0 {
		t.Errorf("a warm Gunzip allocates %v times per body", n)
	}
}

func TestGunzipDropsAnOversizedBuffer(t *testing.T) {
	g := Gunzip{MaxRetainedBytes: 1000}
	if _, _, err := g.Count(NDJSON, gzipped(t, make([]byte, 5000)), 1<<20); err != nil {
		t.Fatal(err)
	}
	if cap(g.buf) != 0 {
		t.Errorf("kept a buffer of %d bytes; the bound is 1000", cap(g.buf))
	}
}

func TestCountGzipUsesTheScratchBuffer(t *testing.T) {
	var scratch []byte
	n, dec, err := CountGzip(NDJSON, gzipped(t, []byte("{}\n{}\n")), 1<<20, &scratch)
	if err != nil || n != 2 || dec != 6 || cap(scratch) == 0 {
		t.Fatalf("CountGzip = %d, %d, %v with scratch of %d bytes", n, dec, err, cap(scratch))
	}
	if n, _, err := CountGzip(NDJSON, gzipped(t, []byte("{}\n")), 1<<20, nil); err != nil || n != 1 {
		t.Errorf("CountGzip without scratch = %d, %v", n, err)
	}
}
