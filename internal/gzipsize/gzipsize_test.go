package gzipsize

import (
	"bytes"
	"compress/gzip"
	"testing"
)

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHintIsTheHonestSizeWithinTheBodysRatioAndTheLimit(t *testing.T) {
	honest := gz(t, bytes.Repeat([]byte("some text "), 1000))
	if got := Hint(honest, 1<<20); got != 10_001 {
		t.Errorf("Hint(honest 10000-byte body) = %d, want 10001", got)
	}
	if got := Hint(honest, 5000); got != 5001 {
		t.Errorf("Hint under a 5000-byte limit = %d, want 5001", got)
	}
	liar := append([]byte(nil), honest...)
	copy(liar[len(liar)-4:], []byte{0xff, 0xff, 0xff, 0x7f}) // claims 2 GiB
	if got, want := Hint(liar, 1<<40), int64(len(liar))*MaxDeflateRatio+1; got != want {
		t.Errorf("Hint(a trailer claiming 2 GiB) = %d, want the ratio bound %d", got, want)
	}
	if got := Hint([]byte{0x1f, 0x8b}, 1<<20); got != 0 {
		t.Errorf("Hint(too short for a trailer) = %d, want 0", got)
	}
}
