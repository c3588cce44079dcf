package conn

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/pushwire/pushwire/frame"
)

// MessageType is the type of a data message.
type MessageType int

const (
	Text   MessageType = 1
	Binary MessageType = 2
)

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

// CloseCode is a close status code (RFC 6455 section 7.4).
type CloseCode = frame.CloseCode

// The close codes; see frame for the full list.
const (
	CloseNormal          = frame.CloseNormal
	CloseGoingAway       = frame.CloseGoingAway
	CloseProtocolError   = frame.CloseProtocolError
	CloseUnsupportedData = frame.CloseUnsupportedData
	CloseNoStatus        = frame.CloseNoStatus
	CloseAbnormal        = frame.CloseAbnormal
	CloseInvalidPayload  = frame.CloseInvalidPayload
	ClosePolicyViolation = frame.ClosePolicyViolation
	CloseTooBig          = frame.CloseTooBig
	CloseInternalError   = frame.CloseInternalError
	CloseTryAgainLater   = frame.CloseTryAgainLater
)

// CloseError reports how the connection was closed: the code and reason of
// the peer's close frame, or the code this side closed with when it failed
// the connection (Local is then true), or CloseAbnormal when the transport
// ended without any close.
type CloseError struct {
	Code   CloseCode
	Reason string
	Local  bool
	Err    error // the cause of a local failure, if any
}

func (e *CloseError) Unwrap() error { return e.Err }

// Error says who ended the connection, with which code and reason, and
// why, when this side failed it or the transport broke.
func (e *CloseError) Error() string {
	who := "closed by peer"
	switch {
	case e.Local:
		who = "closed by this side"
	case e.Code == CloseAbnormal:
		who = "connection lost"
	}
	s := "websocket: " + who + ": " + strconv.Itoa(int(e.Code))
	if e.Reason != "" {
		s += " " + strconv.Quote(e.Reason)
	}
	if e.Err != nil && e.Err != ErrClosed {
		s += ": " + strings.TrimPrefix(e.Err.Error(), "websocket: ")
	}
	return s
}

// CloseStatus returns the close code carried by err, or 0 if err is not a
// close.
func CloseStatus(err error) CloseCode {
	if ce, ok := errors.AsType[*CloseError](err); ok {
		return ce.Code
	}
	return 0
}

// ErrPongTimeout is the cause (CloseError.Err) of a connection that the
// keepalive failed: the peer left its ping unanswered for PongTimeout, or
// read so little that the ping could not even be sent in that time.
var ErrPongTimeout = errors.New("websocket: peer did not answer the keepalive ping in time")

// ErrClosed is returned by calls made after this side closed the connection.
var ErrClosed = errors.New("websocket: use of closed connection")
