package conn

import (
	"context"
	"net"
	"sync"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/mask"
)

// The whole-message write path and the frame lock every writer takes.

// WriteMessage sends p as one message of type typ, in one frame. A cancelled
// ctx abandons the wait for other writers; once the frame is under way, it
// fails the connection.
func (c *Conn) WriteMessage(ctx context.Context, typ MessageType, p []byte) error {
	op := frame.OpBinary
	switch typ {
	case Text:
		op = frame.OpText
	case Binary:
	default:
		return ErrMessageType
	}
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	if c.codec != nil && len(p) >= c.codec.threshold {
		return c.writeCompressed(ctx, op, p)
	}
	return c.writeFrameContext(ctx, frame.Header{Fin: true, Op: op}, p)
}

// lockMessage takes frameMu at a point where a data message may begin: no
// streamed message is open.
func (c *Conn) lockMessage(ctx context.Context) error {
	for {
		if err := c.lockFrame(ctx); err != nil {
			return err
		}
		if !c.streaming {
			return nil
		}
		// Wait for the stream's end, not for frameMu: its fragments free
		// frameMu often, and our own unlock would wake us at once.
		if c.mw.ended == nil {
			c.mw.ended = make(chan struct{})
		}
		ended := c.mw.ended
		c.unlockFrame()
		select {
		case <-ended:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done.get(0):
			return ErrClosed
		}
	}
}

// lockFrame takes frameMu, waiting on frameFree while it is held so that
// ctx can abandon the wait.
func (c *Conn) lockFrame(ctx context.Context) error {
	if c.frameMu.TryLock() {
		return nil
	}
	// Made before the next TryLock: a holder that unlocks after that one
	// fails then finds the channel and leaves a token in it.
	free := c.frameFree.get(1)
	for !c.frameMu.TryLock() {
		select {
		case <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// unlockFrame frees frameMu and wakes a waiter, if any. Every unlock leaves
// a token, so a waiter that takes one and finds the lock held again waits
// for that holder's. Once a token sits in frameFree, the send fails fast
// without taking the channel's lock.
//
// A reader that found frameMu held when it went to send the held frames
// left them to the holder: with the reader waiting, they go now.
func (c *Conn) unlockFrame() {
	c.frameMu.Unlock()
	c.frameFree.signal()
	if c.opts.CoalesceWrites && c.waiting.Load() && c.held.Load() {
		c.sendHeldNow()
	}
}

// writeFrameContext is writeFrame with ctx able to cut it short. The caller
// holds frameMu.
func (c *Conn) writeFrameContext(ctx context.Context, h frame.Header, p []byte) error {
	if err := c.wctx.arm(ctx); err != nil {
		return err
	}
	return c.wctx.result(c.writeFrame(h, p))
}

// writeFrame writes one frame, header and payload in one system call where
// they fit the buffer (or with writev where they do not), after any frames
// held by CoalesceWrites. The caller holds frameMu.
func (c *Conn) writeFrame(h frame.Header, p []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if h.Op != frame.OpClose && c.closeSent.Load() {
		return ErrClosed
	}
	c.writeBuf()
	h.Length = int64(len(p))
	if !c.server {
		h.Masked = true
		k := uint32(c.rng.Uint64())
		h.Key = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	}
	held := len(c.wbuf)
	b, ok := frame.AppendShortHeader(c.wbuf, &h)
	if !ok {
		b = frame.AppendHeader(c.wbuf, h)
	}
	var n int64
	var err error
	switch {
	case len(b)+len(p) <= cap(b):
		b = append(b, p...)
		if h.Masked {
			mask.XOR(b[len(b)-len(p):], h.Key, 0)
		}
		if c.batching {
			c.wbuf = b // writeBatch sends it
			return nil
		}
		if c.opts.CoalesceWrites && !h.Op.IsControl() {
			c.wbuf = b
			if !c.held.Load() { // set since the last send: no store needed
				c.held.Store(true)
			}
			if !c.waiting.Load() {
				return nil
			}
		}
		n, err = c.netWrite(b)
	case !h.Masked:
		c.needLargeWrite(h, p, held)
		n, err = c.netWritev(b, p)
	default:
		c.needLargeWrite(h, p, held)
		// The payload is the caller's: mask a copy, in chunks of a pooled
		// buffer larger than wbuf, so that a large message costs few system
		// calls without every client keeping a large buffer.
		if len(b) >= maskChunk {
			// Held frames (only with a write buffer that large) would leave
			// no room for the payload: they go first.
			n, err = c.netWrite(b[:held])
			b = b[held:]
		}
		sp := maskPool.Get().(*[]byte)
		chunk := append((*sp)[:0], b...)
		pos := 0
		for len(p) > 0 && err == nil {
			k := min(len(p), cap(chunk)-len(chunk))
			chunk = append(chunk, p[:k]...)
			pos = mask.XOR(chunk[len(chunk)-k:], h.Key, pos)
			var m int64
			m, err = c.netWrite(chunk)
			n += m
			p = p[k:]
			chunk = chunk[:0]
		}
		maskPool.Put(sp)
	}
	return c.wrote(n, err, held > 0)
}

// needLargeWrite notes that a data frame of at most half the default buffer
// did not fit after the held ones: the next wbuf is large, to hold more.
// Larger frames gain less from sharing a write (see sizeRead).
func (c *Conn) needLargeWrite(h frame.Header, p []byte, held int) {
	if c.opts.CoalesceWrites && held > 0 && !h.Op.IsControl() && len(p) <= DefaultWriteBufferSize/2 {
		c.largeWrite = true
	}
}

// wrote empties wbuf after a write of n bytes, and fails the connection if
// the write failed part way or lost held frames.
func (c *Conn) wrote(n int64, err error, held bool) error {
	c.wbuf = c.wbuf[:0]
	if c.readerIdle.Load() && c.opts.WriteBufferSize == DefaultWriteBufferSize {
		// The reader waits on an idle socket: this write came from
		// elsewhere (a push), and the next may be long in coming. The
		// buffer goes back now, not at the reader's next wake, which a
		// push-only connection never has.
		c.putWriteBuf()
	}
	if c.opts.CoalesceWrites {
		c.held.Store(false)
	}
	if err != nil && (n > 0 || held || !isTimeout(err)) {
		// Part of a frame may be out, or a message the caller was told is
		// sent is not: the stream cannot continue.
		c.writeErr = err
		c.nc.Close()
	}
	return err
}

// ncWritev writes a then b to nc with writev, where nc can.
func (c *Conn) ncWritev(a, b []byte) (int64, error) {
	if c.vec == nil {
		c.vec = new(writeVec) // once, on the first large write
	}
	v := c.vec
	v.arr = [2][]byte{a, b}
	v.bufs = v.arr[:]
	n, err := v.bufs.WriteTo(c.nc)
	v.arr = [2][]byte{}
	return n, err
}

// writeVec is ncWritev's, kept so that writev does not allocate: a
// connection without a raw socket (TLS) writes every large frame so.
type writeVec struct {
	arr  [2][]byte
	bufs net.Buffers // over arr
}

// maskChunk is the size of the buffers a client masks large payloads in.
const maskChunk = 64 << 10

var maskPool = sync.Pool{New: func() any {
	b := make([]byte, 0, maskChunk)
	return &b
}}
