package longpoll

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/frame"
)

// A batch is the sequence number of its first record, then the records,
// each numbered one more than the one before:
//
//	uvarint first-sequence
//	{ kind byte (1 text, 2 binary, 8 close), uvarint length, payload }...
//
// An empty batch is zero bytes. A close record's payload is empty or a
// 2-byte big-endian code and a UTF-8 reason, as in a WebSocket close frame,
// and nothing follows it.
const (
	kindText   = byte(conn.Text)
	kindBinary = byte(conn.Binary)
	kindClose  = byte(8)
)

// batchOverhead bounds the framing a batch of one record adds to its
// payload: two uvarints and the kind byte.
const batchOverhead = 2*binary.MaxVarintLen64 + 1

// record is one message of a batch.
type record struct {
	kind byte
	seq  uint64
	data []byte
}

var errBatch = errors.New("longpoll: malformed batch")

// appendBatch appends the framing of recs, whose sequence numbers must be
// consecutive, to dst.
func appendBatch(dst []byte, recs []record) []byte {
	if len(recs) == 0 {
		return dst
	}
	need := binary.MaxVarintLen64
	for _, r := range recs {
		need += 1 + binary.MaxVarintLen64 + len(r.data)
	}
	dst = slices.Grow(dst, need) // once: a poll's answer is tens of KiB
	dst = binary.AppendUvarint(dst, recs[0].seq)
	for _, r := range recs {
		dst = append(dst, r.kind)
		dst = binary.AppendUvarint(dst, uint64(len(r.data)))
		dst = append(dst, r.data...)
	}
	return dst
}

// walkBatch checks a whole batch, then calls take with its records in
// order until take returns false; the records' data alias b. It accepts
// only what appendBatch writes (minimal uvarints, no header without
// records, nothing after a close), so a batch has exactly one encoding, and
// it checks what the receiver relies on: text is UTF-8, a close is valid.
// It allocates nothing: a batch of empty records, a few bytes each, costs
// the receiver only the records take keeps, which its queue bounds.
func walkBatch(b []byte, take func(record) bool) error {
	if err := scanBatch(b, nil); err != nil {
		return err
	}
	return scanBatch(b, take)
}

// scanBatch parses b, calling take, if set, with each record until it
// returns false.
func scanBatch(b []byte, take func(record) bool) error {
	if len(b) == 0 {
		return nil
	}
	seq, n := uvarint(b)
	if n <= 0 || seq == 0 || n == len(b) {
		return errBatch
	}
	b = b[n:]
	closed := false
	for len(b) > 0 {
		if closed || seq == math.MaxUint64 {
			return errBatch
		}
		kind := b[0]
		size, n := uvarint(b[1:])
		if n <= 0 || size > uint64(len(b)-1-n) {
			return errBatch
		}
		data := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		switch kind {
		case kindText:
			if take == nil && !utf8.Valid(data) {
				return errBatch
			}
		case kindBinary:
		case kindClose:
			if take == nil {
				if _, ok := parseClose(data); !ok {
					return errBatch
				}
			}
			closed = true
		default:
			return errBatch
		}
		if take != nil && !take(record{kind, seq, data}) {
			return nil
		}
		seq++
	}
	return nil
}

// uvarint is binary.Uvarint refusing non-minimal encodings.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -1
	}
	return v, n
}

func closeRecord(seq uint64, code conn.CloseCode, reason string) record {
	return record{kind: kindClose, seq: seq, data: frame.AppendClose(nil, code, reason)}
}

// checkClose is Close's check of its arguments: WebSocket's rules, so that
// a close passes unchanged through a bridge between the two transports.
func checkClose(code conn.CloseCode, reason string) error {
	switch {
	case !code.Valid():
		return errCloseCode
	case len(reason) > frame.MaxCloseReason || !utf8.ValidString(reason):
		return errCloseReason
	}
	return nil
}

func parseClose(data []byte) (*conn.CloseError, bool) {
	if len(data) > frame.MaxControlPayload {
		return nil, false
	}
	code, reason, err := frame.ParseClose(data)
	if err != nil {
		return nil, false
	}
	return &conn.CloseError{Code: code, Reason: string(reason)}, true
}
