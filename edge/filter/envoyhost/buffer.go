package envoyhost

import (
	"strconv"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// buffer implements api.BufferInstance over the data of one DecodeData call. Like Envoy's, it
// is valid only until that data is passed on: afterwards every method but Len panics.
type buffer struct {
	s    *stream
	live bool // guarded by s.mu
	mu   sync.Mutex
	b    []byte
}

var _ api.BufferInstance = (*buffer)(nil)

func (s *stream) newBuffer(data []byte) *buffer {
	return &buffer{s: s, live: true, b: data}
}

// take ends the buffer's life and returns its data.
func (b *buffer) take() []byte {
	b.s.mu.Lock()
	b.live = false
	b.s.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	data := b.b
	b.b = nil
	return data
}

// check panics like Envoy's C API when the buffer cannot be used now.
func (b *buffer) check() {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.destroyed:
		panic(errFilterDestroyed)
	case !b.live:
		panic(errInvalidPhase)
	case s.phase == 0:
		panic(errNotInGo)
	}
}

func (b *buffer) set(data []byte, action api.BufferAction) {
	b.check()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch action {
	case api.SetBuffer:
		b.b = append([]byte(nil), data...)
	case api.AppendBuffer:
		b.b = append(b.b, data...)
	case api.PrependBuffer:
		b.b = append(append([]byte(nil), data...), b.b...)
	}
}

// Write appends p.
func (b *buffer) Write(p []byte) (int, error) {
	b.set(p, api.AppendBuffer)
	return len(p), nil
}

// WriteString appends s.
func (b *buffer) WriteString(s string) (int, error) {
	b.set([]byte(s), api.AppendBuffer)
	return len(s), nil
}

// WriteByte appends p.
func (b *buffer) WriteByte(p byte) error {
	b.set([]byte{p}, api.AppendBuffer)
	return nil
}

// WriteUint16 appends p in decimal, as Envoy's shim does.
func (b *buffer) WriteUint16(p uint16) error {
	_, err := b.WriteString(strconv.FormatUint(uint64(p), 10))
	return err
}

// WriteUint32 appends p in decimal, as Envoy's shim does.
func (b *buffer) WriteUint32(p uint32) error {
	_, err := b.WriteString(strconv.FormatUint(uint64(p), 10))
	return err
}

// WriteUint64 appends p in decimal, as Envoy's shim does.
func (b *buffer) WriteUint64(p uint64) error {
	_, err := b.WriteString(strconv.FormatUint(p, 10))
	return err
}

// Bytes returns the data (nil when empty); the caller must not change it.
func (b *buffer) Bytes() []byte {
	b.check()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.b) == 0 {
		return nil
	}
	return b.b
}

// Drain removes the first offset bytes.
func (b *buffer) Drain(offset int) {
	if offset <= 0 || b.Len() == 0 {
		return
	}
	b.check()
	b.mu.Lock()
	defer b.mu.Unlock()
	offset = min(offset, len(b.b))
	b.b = b.b[offset:]
}

// Len returns the length of the data.
func (b *buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.b)
}

// Reset empties the buffer.
func (b *buffer) Reset() { b.Drain(b.Len()) }

// String returns the data as a string.
func (b *buffer) String() string {
	return string(b.Bytes())
}

// Append appends data.
func (b *buffer) Append(data []byte) error {
	b.set(data, api.AppendBuffer)
	return nil
}

// Prepend prepends data.
func (b *buffer) Prepend(data []byte) error {
	b.set(data, api.PrependBuffer)
	return nil
}

// AppendString appends s.
func (b *buffer) AppendString(s string) error {
	b.set([]byte(s), api.AppendBuffer)
	return nil
}

// PrependString prepends s.
func (b *buffer) PrependString(s string) error {
	b.set([]byte(s), api.PrependBuffer)
	return nil
}

// Set replaces the data.
func (b *buffer) Set(data []byte) error {
	b.set(data, api.SetBuffer)
	return nil
}

// SetString replaces the data.
func (b *buffer) SetString(s string) error {
	b.set([]byte(s), api.SetBuffer)
	return nil
}
