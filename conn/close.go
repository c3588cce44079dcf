package conn

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushwire/pushwire/frame"
)

// Closing: the close handshake and how a connection ends.

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

// Unwrap returns the cause of a local failure, if any.
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
	s := "conn: " + who + ": " + e.Code.String()
	if e.Reason != "" {
		s += " " + strconv.Quote(e.Reason)
	}
	if e.Err != nil && e.Err != ErrClosed {
		s += ": " + strings.TrimPrefix(e.Err.Error(), "conn: ")
	}
	return s
}

// ErrCloseCode is returned by Close for a code that may not be sent: one
// outside 1000-4999, or reserved (1004, 1005, 1006, 1015...), as on every
// transport (conn.MessageConn).
var ErrCloseCode = errors.New("conn: close code may not be sent")

// ErrCloseReason is returned by Close for a reason over 123 bytes or not
// UTF-8.
var ErrCloseReason = errors.New("conn: close reason over 123 bytes or not UTF-8")

func checkClose(code CloseCode, reason string) error {
	switch {
	case !code.Valid():
		return ErrCloseCode
	case len(reason) > frame.MaxCloseReason || !utf8.ValidString(reason):
		return ErrCloseReason
	}
	return nil
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
var ErrPongTimeout = errors.New("conn: peer did not answer the keepalive ping in time")

// ErrClosed is returned by calls made after this side closed the
// connection. errors.Is(ErrClosed, net.ErrClosed) holds, as for a closed
// socket.
var ErrClosed = fmt.Errorf("conn: use of closed connection: %w", net.ErrClosed)

// Close sends a close frame with code and reason, waits for the peer's, and
// closes the connection, all within CloseTimeout whatever other goroutines
// are doing. It returns nil when the close handshake completed. A writer
// blocked on a peer that does not read fails with a timeout when that time
// is up, and Close then returns an error too: its close frame could not be
// sent. A reader running meanwhile returns the *CloseError. Close may be
// called from any goroutine, any number of times.
func (c *Conn) Close(code CloseCode, reason string) error {
	if err := checkClose(code, reason); err != nil {
		return err
	}
	var err error
	c.closeOnce.Do(func() { err = c.close(code, reason) })
	if err != nil {
		return err
	}
	<-c.done.get(0)
	return nil
}

func (c *Conn) close(code CloseCode, reason string) error {
	// One CloseTimeout bounds the whole close: the wait for other writers,
	// the close frame's write and the wait for the peer's.
	deadline := time.Now().Add(c.opts.CloseTimeout)
	if c.closeSent.CompareAndSwap(false, true) {
		var b [frame.MaxControlPayload]byte
		if err := c.writeClose(frame.AppendClose(b[:0], code, reason), deadline); err != nil {
			c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: err})
			return err
		}
	}
	timer := time.AfterFunc(time.Until(deadline), func() { c.nc.SetReadDeadline(aLongTimeAgo) })
	defer timer.Stop()
	if c.readMu.TryLock() {
		// No reader is running: drain until the peer's close.
		c.drainToClose()
		c.readMu.Unlock()
	} else {
		// A reader reads the peer's close; one that returns first (its
		// context was cancelled) leaves the draining to us.
		wait := time.NewTimer(time.Until(deadline))
		poll := time.NewTicker(10 * time.Millisecond)
	waiting:
		for {
			select {
			case <-c.done.get(0):
				break waiting
			case <-wait.C:
				break waiting
			case <-poll.C:
				if c.readMu.TryLock() {
					c.drainToClose()
					c.readMu.Unlock()
					break waiting
				}
			}
		}
		wait.Stop()
		poll.Stop()
	}
	if ce := c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrClosed}); ce.Local {
		return ce
	}
	return nil
}

// drainToClose reads and drops messages until the connection ends: the
// peer's close, a failure, or the close deadline. The caller holds readMu.
func (c *Conn) drainToClose() {
	c.rctx.disarm()
	for c.final.Load() == nil {
		var err error
		if c.inMsg {
			_, err = io.Copy(io.Discard, &payloadReader{c})
			if err == nil {
				err = c.endMessage()
			}
			if err != nil {
				c.readFailed(err)
			}
			continue
		}
		if err = c.beginMessage(); err != nil {
			c.readFailed(err)
		}
	}
}

// readFailed turns a read error into the connection's final state. A broken
// rule sends its close code to the peer.
func (c *Conn) readFailed(err error) error {
	if ce, ok := err.(*CloseError); ok {
		return c.finish(ce)
	}
	ce := &CloseError{Code: CloseAbnormal, Local: true, Err: err}
	if fe, ok := errors.AsType[*frame.Error](err); ok {
		ce.Code, ce.Reason = fe.Code, fe.Rule
		if c.closeSent.CompareAndSwap(false, true) {
			var b [2]byte
			c.writeClose(frame.AppendClose(b[:0], fe.Code, ""), time.Now().Add(c.opts.CloseTimeout))
		}
	} else if c.closeSent.Load() && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		// We closed and the peer dropped the connection without answering.
		ce.Local = true
	}
	return c.finish(ce)
}

// finish records how the connection ended, unless that is known already,
// releases it, and returns the final state.
func (c *Conn) finish(ce *CloseError) *CloseError {
	c.final.CompareAndSwap(nil, ce)
	c.doneOnce.Do(func() {
		close(c.done.get(0))
		if c.ka != nil {
			c.ka.timer.Stop()
		}
		if ce := c.final.Load(); ce.Local && ce.Code != CloseAbnormal {
			// We failed the connection for a broken rule, with a close frame.
			go c.linger()
		} else {
			c.nc.Close()
		}
	})
	return c.final.Load()
}

// linger closes the connection after the close frame that failed it, which
// the peer may not have read: a peer still sending would find bytes unread,
// and closing then resets the connection, which can destroy our close frame
// (and the messages before it) in the peer's buffers. So our side shuts its
// writing, and discards what arrives until the peer closes, or CloseTimeout.
func (c *Conn) linger() {
	defer c.nc.Close()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.drain()
	}
}

// drain discards input until the peer closes the connection, or
// CloseTimeout.
func (c *Conn) drain() {
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	io.Copy(io.Discard, c.nc)
}
