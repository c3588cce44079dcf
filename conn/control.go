package conn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/mask"
)

// Control frames: answering the peer's, pings and the keepalive.

// control handles a control frame whose header was just read. between is
// set for one between messages, handled at the top of the reader's stack.
func (c *Conn) control(h frame.Header, between bool) error {
	n := int(h.Length)
	if err := c.fill(n); err != nil {
		return err
	}
	// Unmasked in place: the bytes are consumed, and nothing reads rbuf
	// before this returns.
	p := c.rbuf[c.r : c.r+n : c.r+n]
	c.r += n
	if h.Masked {
		mask.XOR(p, h.Key, 0)
	}
	switch h.Op {
	case frame.OpPing:
		if c.opts.OnPing != nil {
			c.opts.OnPing(p)
		}
		if c.closeSent.Load() {
			return nil
		}
		var err error
		if between {
			err = c.answerPing(p)
		} else {
			err = c.writePong(p)
		}
		if err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	case frame.OpPong:
		if c.opts.OnPong != nil {
			c.opts.OnPong(p)
		}
		c.pongs.signal()
	case frame.OpClose:
		return c.peerClosed(p)
	}
	return nil
}

func (c *Conn) writePong(p []byte) error {
	return c.writeControl(context.Background(), frame.OpPong, p)
}

// answerPing has the pong goroutine write the pong, and waits for it. The
// write's call chain is deep: run on the reader's stack, between messages,
// it would grow the stack an idle connection's goroutine parks on to 4 KiB
// for good, since a collection shrinks a stack only when less than a
// quarter of it is in use. Waiting keeps the reader from running ahead of a
// peer that pings without reading the pongs. The goroutine lasts while
// pings keep coming (see stopPongs): one start per burst of pings, not one
// per ping, and an idle connection keeps neither it nor its channel.
func (c *Conn) answerPing(p []byte) error {
	if c.pong == nil {
		c.pong = make(chan error)
		go c.pongLoop(c.pong)
	}
	// The channel alternates: a job (nil, with pongPayload), then its
	// result.
	c.pongPayload = p
	c.pong <- nil
	return <-c.pong
}

// pongLoop writes the pongs answerPing asks for until errStopPong.
func (c *Conn) pongLoop(jobs chan error) {
	for <-jobs != errStopPong {
		jobs <- c.writePong(c.pongPayload)
	}
}

var errStopPong = errors.New("conn: stop writing pongs")

// stopPongs ends the pong goroutine, if it runs. The caller is the reader.
func (c *Conn) stopPongs() {
	if c.pong != nil {
		c.pong <- errStopPong
		c.pong, c.pongPayload = nil, nil
	}
}

// peerClosed answers the peer's close frame and ends the connection.
func (c *Conn) peerClosed(p []byte) error {
	code, reason, err := frame.ParseClose(p)
	if err != nil {
		return err
	}
	ce := &CloseError{Code: code, Reason: string(reason)}
	if c.closeSent.CompareAndSwap(false, true) {
		// Echo the code, as RFC 6455 section 5.5.1 suggests.
		var b [2]byte
		c.writeClose(frame.AppendClose(b[:0], code, ""), time.Now().Add(c.opts.CloseTimeout))
	}
	if !c.server {
		// The server closes the TCP connection first (RFC 6455 section
		// 7.1.1); wait a bounded time for it.
		c.drain()
	}
	return c.finish(ce)
}

// writeControl sends one control frame; ctx bounds the wait for other
// writers and the write.
func (c *Conn) writeControl(ctx context.Context, op frame.Opcode, p []byte) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.writeFrameContext(ctx, frame.Header{Fin: true, Op: op}, p)
}

// writeClose sends a close frame by deadline, whatever other writers are
// doing: the socket's write deadline moves to deadline before the wait for
// frameMu, so that a writer blocked on a peer that does not read gives the
// lock up by then (its write fails with a timeout).
func (c *Conn) writeClose(p []byte, deadline time.Time) error {
	c.wdeadline.Store(deadline.UnixNano())
	c.nc.SetWriteDeadline(deadline)
	var err error
	if c.frameMu.TryLock() {
		// No writer at work, the usual case: the socket's deadline bounds
		// the write, and the wait needs no context (4 allocations).
		err = c.writeFrameContext(context.Background(), frame.Header{Fin: true, Op: frame.OpClose}, p)
		c.unlockFrame()
	} else {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err = c.writeControl(ctx, frame.OpClose, p)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("conn: close frame not sent within CloseTimeout (%v): %w", c.opts.CloseTimeout, err)
	}
	return nil
}

// WritePing sends a ping without waiting for its pong, which OnPong sees
// if set: a heartbeat that needs no reply to wait on, or many pings in
// flight.
func (c *Conn) WritePing(ctx context.Context, payload []byte) error {
	if len(payload) > frame.MaxControlPayload {
		return frame.ErrControlTooLong
	}
	return c.writeControl(ctx, frame.OpPing, payload)
}

// WritePong sends an unsolicited pong: a one-way heartbeat, which RFC 6455
// section 5.5.3 allows and peers do not answer.
func (c *Conn) WritePong(ctx context.Context, payload []byte) error {
	if len(payload) > frame.MaxControlPayload {
		return frame.ErrControlTooLong
	}
	return c.writeControl(ctx, frame.OpPong, payload)
}

// Ping sends a ping and waits for a pong. A reader must be running: pongs are
// received by ReadMessage or NextReader on another goroutine.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	pongs := c.pongs.get(1)
	select {
	case <-pongs:
	default:
	}
	if err := c.WritePing(ctx, payload); err != nil {
		return err
	}
	select {
	case <-pongs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done.get(0):
		return c.final.Load()
	}
}

// keepalive runs on a timer: it pings a peer that has been silent for
// PingInterval, and fails one that has left that ping unanswered (sent
// nothing at all) for PongTimeout. Runs of the timer never overlap.
func (c *Conn) keepalive() {
	ka := c.ka
	now := time.Now()
	last := ka.lastRead.Load()
	if ka.pingSent != 0 && last < ka.pingSent {
		if wait := time.Duration(ka.pingSent + int64(c.opts.PongTimeout) - now.UnixNano()); wait > 0 {
			ka.timer.Reset(wait)
			return
		}
		c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrPongTimeout})
		return
	}
	ka.pingSent = 0
	if idle := now.Sub(time.Unix(0, last)); idle < c.opts.PingInterval {
		ka.timer.Reset(c.opts.PingInterval - idle)
		return
	}
	// A writer blocked on a peer that does not read holds frameMu: the
	// ping's wait for it counts against PongTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.PongTimeout)
	err := c.writeControl(ctx, frame.OpPing, nil)
	cancel()
	if isTimeout(err) {
		c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrPongTimeout})
		return
	}
	if err != nil {
		return
	}
	ka.pingSent = now.UnixNano()
	ka.timer.Reset(max(c.opts.PongTimeout-time.Since(now), 0))
}
