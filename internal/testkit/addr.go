package testkit

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback host:port that was free a moment ago, for a component that
// binds its own address (one that takes a listener should get port 0 instead).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return freeAddr(t).String()
}

// FreePort returns a loopback port that was free a moment ago (see FreeAddr).
func FreePort(t testing.TB) int {
	t.Helper()
	return freeAddr(t).Port
}

func freeAddr(t testing.TB) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr)
}
