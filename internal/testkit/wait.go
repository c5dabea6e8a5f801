package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Poll calls check every interval until it returns nil, and then returns nil. When timeout
// passes first it returns check's last error, and when ctx ends first ctx's cause (with
// check's last error): ctx is how a caller stops waiting for something that cannot come
// any more, such as a process that exited.
func Poll(ctx context.Context, timeout, interval time.Duration, check func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", context.Cause(ctx), err)
		case <-deadline.C:
			return fmt.Errorf("not within %v: %w", timeout, err)
		case <-time.After(interval):
		}
	}
}

// errNotYet is the error of a condition of Eventually that does not hold yet.
var errNotYet = errors.New("the condition does not hold")

// Eventually fails the test when cond does not hold within timeout (checked every 10 ms);
// what names the condition in the failure.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := Poll(context.Background(), timeout, 10*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// WaitHTTP polls GET url (every 50 ms, each request within 2 s) until it answers 200, and
// fails the test with the last answer when that does not happen within timeout, or once
// ctx ends (see Poll).
func WaitHTTP(ctx context.Context, t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	err := Poll(ctx, timeout, 50*time.Millisecond, func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("GET %s does not answer 200: %v", url, err)
	}
}
