// Package frame is the RFC 6455 frame codec: the header type, opcodes, close
// codes and close payloads, and every framing rule of section 5.
//
// It does no I/O policy and allocates nothing: headers are parsed from bytes
// (or read from an io.Reader into a buffer the caller keeps: a fresh array
// per call escapes to the heap through the reader) and appended to bytes.
// Every rule violation is an *Error that carries the close code to answer
// with, so a connection maps any failure to its close code in one place.
//
//	h, n, err := frame.Parse(buf)
//	if err == frame.ErrShort { /* read at least n bytes, then parse again */ }
//	out = frame.AppendHeader(out, frame.Header{Fin: true, Op: frame.OpText, Length: int64(len(p))})
package frame
