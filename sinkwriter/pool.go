package sinkwriter

import (
	"math/bits"
	"sync"
)

// Size classes of bytesPool: powers of two from 4 KiB to 64 MiB.
const (
	minPoolClass = 12
	maxPoolClass = 26
)

// bytesPool reuses batch buffers by power-of-two size class, so that a busy writer does not
// allocate (and zero) every batch's bytes anew. A buffer may be up to twice the batch it holds,
// so memory in use can reach about twice max_buffer_bytes; idle buffers go with the garbage
// collector. Safe for concurrent use; the zero value is ready.
type bytesPool struct {
	classes [maxPoolClass - minPoolClass + 1]sync.Pool // *[]byte of cap 1<<class
}

// get returns a slice of n bytes (n > 0) with unspecified contents.
func (p *bytesPool) get(n int) []byte {
	c := max(bits.Len(uint(n-1)), minPoolClass)
	if c > maxPoolClass {
		return make([]byte, n)
	}
	if v, ok := p.classes[c-minPoolClass].Get().(*[]byte); ok {
		return (*v)[:n]
	}
	return make([]byte, n, 1<<c)
}

// put keeps b, from get, for reuse. b must not be used afterwards.
func (p *bytesPool) put(b []byte) {
	c := bits.Len(uint(cap(b) - 1))
	if cap(b) == 0 || cap(b) != 1<<c || c < minPoolClass || c > maxPoolClass {
		return
	}
	b = b[:0]
	p.classes[c-minPoolClass].Put(&b)
}
