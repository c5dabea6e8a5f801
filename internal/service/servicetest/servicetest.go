// Package servicetest helps tests check the bounds of a service's listener: requests whose
// body stalls, over HTTP/1.1 on a connection of the test's own, or over HTTP/2.
package servicetest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// StallHTTP1 writes to c a POST of path declaring a body of declared bytes (Content-Length),
// with the header pairs hdr, then the first bytes of the body, sent, and nothing more: the
// body stalls. c is closed when the test ends.
func StallHTTP1(t testing.TB, c net.Conn, path string, declared int64, sent []byte, hdr ...string) {
	t.Helper()
	t.Cleanup(func() { _ = c.Close() })
	head := "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Length: " + strconv.FormatInt(declared, 10) + "\r\n"
	for i := 0; i+1 < len(hdr); i += 2 {
		head += hdr[i] + ": " + hdr[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"); err != nil {
		t.Fatalf("cannot write the request head: %v", err)
	}
	if _, err := c.Write(sent); err != nil {
		t.Fatalf("cannot write the first bytes of the body: %v", err)
	}
}

// Answer waits up to within for the server's answer on c: the status of the response it
// read, or 0 when the connection was closed (or reset) without one. A connection still open
// and silent after within fails the test.
func Answer(t testing.TB, c net.Conn, within time.Duration) int {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(within)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	var ne net.Error
	switch {
	case err == nil:
		_ = resp.Body.Close()
		return resp.StatusCode
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("no answer and the connection still open after %v", within)
	}
	return 0 // closed or reset without a response
}

// StallHTTP2 posts to url with client (which must speak HTTP/2: h2c or TLS) a body declaring
// declared bytes, with the header pairs hdr, sending sent and then nothing more, and returns
// the response, or the error the client got (the stream or connection was reset). The
// stalled body is closed when the test ends.
func StallHTTP2(t testing.TB, client *http.Client, url string, declared int64, sent []byte, hdr ...string) (*http.Response, error) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() })
	req, err := http.NewRequest(http.MethodPost, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = declared
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	go func() { _, _ = pw.Write(sent) }() // the rest never comes
	resp, err := client.Do(req)
	if err == nil {
		t.Cleanup(func() { _ = resp.Body.Close() })
		if resp.ProtoMajor != 2 {
			t.Fatalf("the request went over %s, not HTTP/2", resp.Proto)
		}
	}
	return resp, err
}

// H2CClient returns a client that speaks HTTP/2 without TLS (prior knowledge) and gives up
// after timeout.
func H2CClient(timeout time.Duration) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{Protocols: &p}}
}
