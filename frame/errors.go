package frame

import "errors"

// Error is a broken protocol rule together with the close code a peer
// answers it with. The package's rule errors are comparable values, so
// errors.Is works on them and returning one allocates nothing.
type Error struct {
	Code CloseCode
	Rule string
}

// Error returns the broken rule.
func (e *Error) Error() string { return "websocket: " + e.Rule }

// The rules of RFC 6455 section 5 and their close codes.
var (
	ErrReservedOpcode         = &Error{CloseProtocolError, "reserved opcode"}
	ErrControlFragmented      = &Error{CloseProtocolError, "fragmented control frame"}
	ErrControlTooLong         = &Error{CloseProtocolError, "control frame payload over 125 bytes"}
	ErrLengthOverflow         = &Error{CloseProtocolError, "64-bit payload length with the most significant bit set"}
	ErrNonMinimalLength       = &Error{CloseProtocolError, "payload length not in its minimal encoding"}
	ErrReservedBits           = &Error{CloseProtocolError, "reserved bit set without a negotiated extension"}
	ErrUnmasked               = &Error{CloseProtocolError, "client frame not masked"}
	ErrMasked                 = &Error{CloseProtocolError, "server frame masked"}
	ErrUnexpectedContinuation = &Error{CloseProtocolError, "continuation frame without a message to continue"}
	ErrExpectedContinuation   = &Error{CloseProtocolError, "new data frame inside a fragmented message"}
	ErrCloseLength            = &Error{CloseProtocolError, "close payload of 1 byte"}
	ErrCloseCode              = &Error{CloseProtocolError, "invalid close code"}
	ErrCloseReason            = &Error{CloseInvalidPayload, "close reason is not valid UTF-8"}
	ErrInvalidUTF8            = &Error{CloseInvalidPayload, "text message is not valid UTF-8"}
	ErrTooBig                 = &Error{CloseTooBig, "message exceeds the read limit"}
)

// ErrShort is returned by Parse when b holds only part of a header; it is
// not a broken rule but a request for more input.
var ErrShort = errors.New("frame: header incomplete")
