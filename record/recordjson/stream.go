package recordjson

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ingestdev/ingest/record"
)

// MaxRecordBytes bounds one record of a stream (ScanLines): the sink writer's largest record is
// far below it.
const MaxRecordBytes = 16 << 20

// ScanLines reads records written one per line, as `kcat -C -f '%s\n'` prints a topic's
// values, and calls fn with each record, decoded (valid until fn returns), and its offset in
// the stream. A record may itself hold
// newline bytes: a line that does not decode is joined with the next until it does (a record
// is self-delimiting, so only its own bytes decode); the last record may lack its newline.
// Bytes that decode as no record up to MaxRecordBytes, or up to the end, are passed to bad
// with the error, and scanning goes on after their first newline. It returns fn's first error,
// or the reader's.
func ScanLines(r io.Reader, fn func(rec []byte, dec *record.Record, at int64) error, bad func(at int64, n int, err error)) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var pending []byte // bytes read since the last record, newlines included
	var at int64       // stream offset of pending[0]
	var scratch record.Record
	// try decodes pending up to each of its newlines, shortest first; it returns how many
	// bytes a record (and its newline) used, or 0.
	try := func(final bool) (int, []byte) {
		for i := 0; i < len(pending); {
			j := bytes.IndexByte(pending[i:], '\n')
			end := i + j
			if j < 0 {
				if !final {
					return 0, nil
				}
				end = len(pending)
			}
			if record.Decode(pending[:end], &scratch) == nil {
				used := end
				if end < len(pending) {
					used++ // the newline
				}
				return used, pending[:end]
			}
			if j < 0 {
				return 0, nil
			}
			i = end + 1
		}
		return 0, nil
	}
	skip := func(err error) {
		n := bytes.IndexByte(pending, '\n') + 1
		if n <= 0 {
			n = len(pending)
		}
		bad(at, n, err)
		pending = append(pending[:0], pending[n:]...)
		at += int64(n)
	}
	for {
		line, err := br.ReadSlice('\n')
		pending = append(pending, line...)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return err
		}
		final := errors.Is(err, io.EOF)
		for len(pending) > 0 {
			used, rec := try(final)
			if used == 0 {
				if final || len(pending) > MaxRecordBytes {
					var scratchErr error
					if e := record.Decode(bytes.TrimSuffix(pending, []byte("\n")), &scratch); e != nil {
						scratchErr = e
					} else {
						scratchErr = fmt.Errorf("%w: not one record", record.ErrCorrupt)
					}
					skip(scratchErr)
					continue
				}
				break
			}
			if ferr := fn(rec, &scratch, at); ferr != nil {
				return ferr
			}
			pending = append(pending[:0], pending[used:]...)
			at += int64(used)
		}
		if final {
			return nil
		}
	}
}
