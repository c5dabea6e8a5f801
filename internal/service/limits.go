package service

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestdev/ingest/internal/metricdef"
)

// Defaults of the listener bounds of Options (and of the edge's client listener, which
// documents its own).
const (
	// DefaultMaxConnections is the connection limit of a listener whose Options set none.
	DefaultMaxConnections = 1024
	// DefaultBodyIdleTimeout is the body idle timeout of a listener whose Options set none:
	// internal clients send bodies they hold in memory, so a 10 s gap means a stalled peer.
	DefaultBodyIdleTimeout = 10 * time.Second
)

// ErrBodyIdle is wrapped by the error a request body's Read returns when no data came for
// the body idle timeout (see LimitBodyIdle). It also wraps os.ErrDeadlineExceeded.
var ErrBodyIdle = errors.New("request body idle")

// ListenerMetrics count what a listener's bounds refuse and cut. Their names are
// <prefix>_connections_refused_total, <prefix>_connections_open and
// <prefix>_body_read_timeouts_total.
type ListenerMetrics struct {
	// Refused counts connections closed at once because the listener held its limit.
	Refused prometheus.Counter
	// Open is the connections the listener holds open.
	Open prometheus.Gauge
	// BodyTimeouts counts request bodies cut by the body idle timeout.
	BodyTimeouts prometheus.Counter
}

// NewListenerMetrics defines and registers with reg the metrics of a listener whose metric
// names start with prefix, e.g. "ingest_normalizer". A nil reg registers nothing.
func NewListenerMetrics(prefix string, reg prometheus.Registerer) (*ListenerMetrics, error) {
	m := &ListenerMetrics{
		Refused: metricdef.Counter(prefix+"_connections_refused_total",
			"Connections closed as soon as accepted because the listener held max_connections."),
		Open: metricdef.Gauge(prefix+"_connections_open",
			"Connections the listener holds open (bounded by max_connections)."),
		BodyTimeouts: metricdef.Counter(prefix+"_body_read_timeouts_total",
			"Requests cut because their body sent no data for body_idle_timeout."),
	}
	if err := metricdef.Register(reg, m.Refused, m.Open, m.BodyTimeouts); err != nil {
		return nil, fmt.Errorf("cannot register the listener metrics %s_*: %w", prefix, err)
	}
	return m, nil
}

// metricsPrefix is the metric name prefix of a service's listener: "ingest_" and its name,
// lower-cased, with every run of other characters than letters and digits as one '_'.
func metricsPrefix(name string) string {
	var b strings.Builder
	b.WriteString("ingest")
	sep := true
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
		} else {
			sep = true
		}
	}
	return b.String()
}

// LimitListener returns ln holding at most max connections open at once (max > 0). A
// connection accepted while max are open is closed at once, before anything is read or
// written, and counted in m.Refused: the client sees its connection closed (or reset), and
// retries elsewhere or later, rather than waiting unseen in the accept queue; this is what
// Envoy does at its connection limit. m.Open follows the open connections. Closing a
// connection more than once frees its slot once.
func LimitListener(ln net.Listener, max int, m *ListenerMetrics) net.Listener {
	return &limitListener{Listener: ln, max: int64(max), m: m}
}

type limitListener struct {
	net.Listener
	max  int64
	open atomic.Int64
	m    *ListenerMetrics
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			_ = c.Close()
			l.m.Refused.Inc()
			continue
		}
		l.m.Open.Inc()
		return &limitConn{Conn: c, l: l}, nil
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.m.Open.Dec()
	})
	return err
}

// LimitBodyIdle returns h with every request body bounded by an idle timeout: before each
// Read of the body the connection's (HTTP/2: the stream's) read deadline is set to d from
// now, so a body that sends nothing for d fails its Read with an error wrapping ErrBodyIdle
// and os.ErrDeadlineExceeded, counted in timeouts; the handler answers it (408) or the
// connection is closed. Once the body is read to its end the deadline is cleared, so that
// the server's own deadlines hold again while the handler works. d <= 0 returns h.
func LimitBodyIdle(h http.Handler, d time.Duration, timeouts prometheus.Counter) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// A shallow copy: the server keeps reading its own request's Body after the
			// handler (to discard the rest, or to send 100 Continue), and must find it as is.
			r = r.WithContext(r.Context())
			r.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d, timeouts: timeouts}
		}
		h.ServeHTTP(w, r)
	})
}

// idleBody is a request body whose Reads are bounded by an idle timeout (LimitBodyIdle).
type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	d        time.Duration
	timeouts prometheus.Counter
	armed    bool // a deadline is set (false when the server cannot set one)
	done     bool // the body ended or failed: no deadline any more
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	b.armed = b.rc.SetReadDeadline(time.Now().Add(b.d)) == nil
	n, err := b.ReadCloser.Read(p)
	if err == nil {
		return n, nil
	}
	b.done = true
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.timeouts.Inc()
		return n, fmt.Errorf("%w: no data for %v: %w", ErrBodyIdle, b.d, err)
	}
	if b.armed {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// ValidateListenerBounds reports, naming their config keys, the listener bounds of a
// service's config that are out of range: max_connections, read_header_timeout and
// body_idle_timeout must not be negative (0 means the default).
func ValidateListenerBounds(maxConnections int, readHeaderTimeout, bodyIdleTimeout time.Duration) []error {
	var errs []error
	if maxConnections < 0 {
		errs = append(errs, fmt.Errorf("max_connections: %d must not be negative (0 means the default)", maxConnections))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_header_timeout", readHeaderTimeout}, {"body_idle_timeout", bodyIdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v must not be negative (0 means the default)", d.key, d.v))
		}
	}
	return errs
}
