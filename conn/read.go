package conn

import (
	"context"
	"io"
	"slices"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/utf8check"
	"github.com/pushwire/pushwire/mask"
)

// The whole-message read path, in call order: ReadMessage takes the
// common case (one frame, whole in the buffer) in readWhole, and the rest
// through readMessage, frame by frame.

var errTooManyFragments = &frame.Error{Code: frame.ClosePolicyViolation, Rule: "too many fragments in one message"}

// ReadMessage reads the next data message, appending its payload to buf[:0].
// Control frames that arrive first are answered. It returns a *CloseError
// once the peer closed or the connection failed; a cancelled ctx or a read
// deadline returns their error and keeps the connection usable.
func (c *Conn) ReadMessage(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	// Kept small, as are startRead and awaitIdle: the goroutine of an idle
	// connection parks below them, and a shallow stack stays at 2 KiB.
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.startRead(ctx); err != nil {
		return 0, buf[:0], err
	}
	return c.readLocked(buf[:0])
}

// startRead checks that the connection is open, arms ctx, and waits for the
// first bytes of a message when none are buffered.
func (c *Conn) startRead(ctx context.Context) error {
	if ce := c.final.Load(); ce != nil {
		return ce
	}
	if err := c.rctx.arm(ctx); err != nil {
		return err
	}
	if err := c.awaitIdle(); err != nil {
		return c.rctx.result(err)
	}
	return nil
}

// awaitIdle waits for the first bytes of a message when none are buffered.
// It waits here, near the top of the stack, so that the goroutine of an idle
// connection keeps the smallest stack.
func (c *Conn) awaitIdle() error {
	if c.sock == nil || c.inMsg || c.r < c.w || len(c.partial) > 0 {
		return nil
	}
	c.r, c.w = 0, 0
	n, err := c.sock.read(true)
	c.w = n
	switch {
	case n > 0:
		return nil // a read returns bytes or an error, not both
	case isTimeout(err):
		return err
	}
	return c.readFailed(err)
}

func (c *Conn) readLocked(buf []byte) (MessageType, []byte, error) {
	typ, buf, err := c.readTop(buf)
	c.stopPongs()
	if err != nil && c.final.Load() != nil {
		// Over: the buffers serve the next connection rather than the
		// collector (a short connection's largest cost).
		c.releaseBuffers()
	}
	return typ, buf, c.rctx.result(err)
}

// readTop reads the next message, answering the control frames between
// messages at the top of the stack (see controlBetween).
func (c *Conn) readTop(buf []byte) (MessageType, []byte, error) {
	for {
		if typ, msg, ok := c.readWhole(buf); ok {
			return typ, msg, nil
		}
		handled, err := c.controlBetween()
		if err != nil {
			if !isTimeout(err) {
				err = c.readFailed(err)
			}
			return 0, buf, err
		}
		if !handled {
			break
		}
		if c.r == c.w {
			c.stopPongs() // the wait may be long: no goroutine stays for it
		}
		if err := c.awaitIdle(); err != nil {
			return 0, buf, err
		}
	}
	return c.readMessage(buf)
}

// controlBetween handles a control frame that sits whole in rbuf between
// messages, and reports whether there was one. The reader then waits for
// what follows in awaitIdle, at the top of its stack, and not deep in the
// general path: a ping would otherwise leave an idle connection's goroutine
// parked on a stack grown to 4 KiB, which a collection does not shrink;
// for the same reason its pong is written by another goroutine (answerPing).
// Anything else, a broken frame included, is left to the general path.
func (c *Conn) controlBetween() (bool, error) {
	if c.sock == nil || c.inMsg || len(c.partial) > 0 {
		return false, nil
	}
	h, n, err := frame.Parse(c.rbuf[c.r:c.w])
	if err != nil || !h.Op.IsControl() || h.Length > int64(c.w-c.r-n) {
		return false, nil
	}
	c.r += n
	c.received()
	if err := c.check.Check(h); err != nil {
		return true, err
	}
	return true, c.control(h, true)
}

// readWhole reads the next message in the common case, where it is one
// uncompressed frame that sits whole in rbuf and breaks no rule, without
// the general path's bookkeeping. When ok is false nothing was consumed,
// and the general path reads the message, or fails it with the right code.
func (c *Conn) readWhole(buf []byte) (typ MessageType, msg []byte, ok bool) {
	if c.inMsg || len(c.partial) > 0 || c.check.InMessage() {
		return 0, buf, false
	}
	// The common form: FIN set, no RSV bit, text or binary, a 7- or 16-bit
	// length, masked exactly when we are the server. Anything else goes
	// the general way.
	b := c.rbuf[c.r:c.w]
	op, length, n := frame.ParseData(b, c.server)
	if n == 0 {
		return 0, buf, false
	}
	text := op == frame.OpText
	if length > len(c.rbuf)-n || int64(length) > c.opts.ReadLimit {
		return 0, buf, false
	}
	if size := n + length; size > len(b) {
		// The rest of a binary frame that fits the buffer: read it in. Text
		// goes the general way, which checks each piece as it arrives.
		// So does a frame larger than the default buffer, which it reads
		// straight into the caller's memory.
		if text || size > c.opts.ReadBufferSize || c.fill(size) != nil {
			return 0, buf, false
		}
		b = c.rbuf[c.r:c.w]
	}
	p := b[n : n+length]
	buf = append(buf, p...)
	if c.server {
		mask.XOR(buf, frame.MaskKey(b[:n]), 0)
	}
	typ = Binary
	if text {
		if !utf8check.Valid(buf) {
			return 0, buf[:0], false
		}
		typ = Text
	}
	c.r += n + len(p)
	c.received()
	return typ, buf, true
}

func (c *Conn) readMessage(buf []byte) (MessageType, []byte, error) {
	if err := c.skipStreamed(); err != nil {
		return 0, buf[:0], err
	}
	if len(c.partial) > 0 {
		buf = append(buf, c.partial...)
		c.partial = c.partial[:0]
	}
	if !c.inMsg {
		if err := c.beginMessage(); err != nil {
			if isTimeout(err) {
				return 0, buf[:0], err
			}
			return 0, buf[:0], c.readFailed(err)
		}
	}
	typ := Binary
	if c.msgText {
		typ = Text
	}
	var err error
	if c.msgZip {
		buf, err = c.readCompressed(buf)
	} else {
		buf, err = c.readPlain(buf)
	}
	if err != nil {
		if isTimeout(err) {
			c.partial = append(c.partial[:0], buf...)
			return 0, buf[:0], err
		}
		return 0, buf[:0], c.readFailed(err)
	}
	return typ, buf, nil
}

// beginMessage reads frames, answering control frames, up to the first frame
// of a data message.
func (c *Conn) beginMessage() error {
	h, err := c.nextDataFrame()
	if err != nil {
		return err
	}
	c.inMsg = true
	c.msgText = h.Op == frame.OpText
	c.msgZip = h.Rsv&frame.Rsv1 != 0
	c.msgSize = h.Length
	c.frames = 1
	c.utf8.Reset()
	return c.sizeCheck()
}

// readPlain appends the rest of the current uncompressed message to buf.
func (c *Conn) readPlain(buf []byte) ([]byte, error) {
	buf, err := c.readFrames(buf, c.msgText)
	if err != nil {
		return buf, err
	}
	return buf, c.endMessage()
}

// minGrow is the least a message's buffer grows by while its payload
// arrives (see readFrames): a frame of up to 64 KiB costs at most one
// allocation.
const minGrow = 64 << 10

// readFrames appends the rest of the current message's payload, as sent, to
// buf, checking it as UTF-8 text as it arrives if text is set.
func (c *Conn) readFrames(buf []byte, text bool) ([]byte, error) {
	for {
		if err := c.toPayload(); err == io.EOF {
			return buf, nil
		} else if err != nil {
			return buf, err
		}
		n := len(buf)
		if cap(buf) == n {
			// Grow with the bytes that arrive, not with the length the
			// header declares: a peer that declares a large frame and
			// sends nothing costs no memory. Doubling keeps the copies
			// linear in the message's size.
			buf = slices.Grow(buf, min(int(c.left), max(n, minGrow)))
		}
		m, err := c.readPayload(buf[n:min(cap(buf), n+int(c.left))])
		buf = buf[:n+m]
		if text && !c.utf8.Write(buf[n:]) {
			return buf, frame.ErrInvalidUTF8
		}
		if err != nil {
			return buf, err
		}
	}
}

func (c *Conn) nextFragment() error {
	h, err := c.nextDataFrame()
	if err == io.EOF {
		return io.ErrUnexpectedEOF // the message is not over
	}
	if err != nil {
		return err
	}
	c.msgSize += h.Length
	if int(c.frames) >= c.opts.MaxFragments {
		return errTooManyFragments
	}
	c.frames++
	return c.sizeCheck()
}

func (c *Conn) sizeCheck() error {
	limit := c.opts.ReadLimit
	if c.msgZip {
		// The inflated size is bounded by the decompressor; this bounds what
		// is buffered, allowing for deflate's stored-block overhead.
		limit = satAdd(limit, limit>>8+64)
	}
	if c.msgSize > limit {
		return frame.ErrTooBig
	}
	return nil
}

func satAdd(a, b int64) int64 {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}

func (c *Conn) endMessage() error {
	c.inMsg = false
	if c.msgText && !c.utf8.Complete() {
		return frame.ErrInvalidUTF8
	}
	return nil
}
