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
// *Conn or a long-polling session both satisfy it, so application code does
// not depend on which one it got.
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
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}
