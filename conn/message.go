package conn

import (
	"context"
	"net"
	"strconv"
)

// MessageType is the type of a data message.
type MessageType int

// The two types of data message (RFC 6455 section 5.6): Text is UTF-8.
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

// String returns "text", "binary", or the number of an invalid type.
func (t MessageType) String() string {
	switch t {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// MessageConn is a message connection, whatever the transport: a WebSocket
// *Conn and a long-polling session (both ends) satisfy it, so application
// code does not depend on which one it got. Every implementation keeps this
// contract, which internal/conntest checks on each:
//
//   - Messages are Text (UTF-8) or Binary, delivered whole, each once, in
//     the order written; WriteMessage may be called from any number of
//     goroutines at once, ReadMessage from one at a time.
//   - WriteMessage refuses any other type with an error wrapping
//     ErrMessageType and sends nothing. Text that is not UTF-8 fails the
//     connection at the receiver (1007), unless the writer refuses it
//     first (long polling does).
//   - Close sends a code and reason the peer reads as a *CloseError (Local
//     false): codes 1000-1003, 1007-1014 and 3000-4999, reasons of at most
//     123 bytes of UTF-8; anything else is refused with an error and
//     nothing is sent. It waits a bounded time for the peer, may be called
//     any number of times, and returns nil when the peer took the close.
//   - ReadMessage appends to buf[:0] and returns a *CloseError once the
//     connection ended, every time after. A cancelled ctx returns the
//     context's error and leaves the connection usable.
//
// Errors: *CloseError says how a connection ended (Local: this side ended
// it; Code and Reason: the close sent or received, CloseAbnormal when the
// transport failed without one; Err: the cause); ErrClosed is returned by
// writes after this side closed.
type MessageConn interface {
	// ReadMessage reads the next data message, appending its payload to
	// buf[:0]. It returns a *CloseError once the peer has closed.
	ReadMessage(ctx context.Context, buf []byte) (MessageType, []byte, error)
	// WriteMessage sends p as one message. It is safe to call from several
	// goroutines at once.
	WriteMessage(ctx context.Context, typ MessageType, p []byte) error
	// Close sends a close with code and reason, waits a bounded time for the
	// peer's, and releases the connection.
	Close(code CloseCode, reason string) error
	// LocalAddr and RemoteAddr are the connection's addresses, as the
	// transport knows them.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}
