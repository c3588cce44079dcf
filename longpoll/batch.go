package longpoll

import (
	"encoding/binary"
	"errors"

	"github.com/pushwire/pushwire/conn"
)

// A batch is a run of records, each:
//
//	kind byte (1 text, 2 binary, 8 close), uvarint sequence number,
//	uvarint payload length, payload
//
// A close record's payload is a 2-byte big-endian code and a UTF-8 reason.
const (
	kindText   byte = 1
	kindBinary byte = 2
	kindClose  byte = 8
)

// record is one message of a batch.
type record struct {
	kind byte
	seq  uint64
	data []byte
}

var errBatch = errors.New("longpoll: malformed batch")

func appendRecord(dst []byte, r record) []byte {
	dst = append(dst, r.kind)
	dst = binary.AppendUvarint(dst, r.seq)
	dst = binary.AppendUvarint(dst, uint64(len(r.data)))
	return append(dst, r.data...)
}

// decodeBatch calls fn for each record of b; the data aliases b.
func decodeBatch(b []byte, fn func(record) error) error {
	for len(b) > 0 {
		var r record
		r.kind = b[0]
		if r.kind != kindText && r.kind != kindBinary && r.kind != kindClose {
			return errBatch
		}
		seq, n := binary.Uvarint(b[1:])
		if n <= 0 {
			return errBatch
		}
		b = b[1+n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return errBatch
		}
		r.seq, r.data = seq, b[n:n+int(size)]
		if r.kind == kindClose && len(r.data) == 1 {
			return errBatch
		}
		b = b[n+int(size):]
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func kindOf(t conn.MessageType) byte {
	if t == conn.Text {
		return kindText
	}
	return kindBinary
}

func typeOf(kind byte) conn.MessageType {
	if kind == kindText {
		return conn.Text
	}
	return conn.Binary
}

func closeRecord(seq uint64, code conn.CloseCode, reason string) record {
	data := binary.BigEndian.AppendUint16(nil, uint16(code))
	return record{kind: kindClose, seq: seq, data: append(data, reason...)}
}

func parseClose(data []byte) *conn.CloseError {
	if len(data) < 2 {
		return &conn.CloseError{Code: conn.CloseNoStatus}
	}
	return &conn.CloseError{Code: conn.CloseCode(binary.BigEndian.Uint16(data)), Reason: string(data[2:])}
}
