package conn

import (
	"context"
	"io"

	"github.com/pushwire/pushwire/frame"
)

// Streamed reads: NextReader and the readers under it.

// NextReader returns the next data message as a stream. The reader is valid
// until the next call to NextReader or ReadMessage. ctx bounds the wait for
// the message and the reader's reads; as with ReadMessage, a cancelled ctx
// or a deadline before the message begins keeps the connection usable.
func (c *Conn) NextReader(ctx context.Context) (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	typ, err := c.nextReader(ctx)
	if err != nil {
		return 0, nil, c.rctx.result(err)
	}
	c.mr.ctx = ctx
	return typ, c.mr, c.rctx.result(nil)
}

func (c *Conn) nextReader(ctx context.Context) (MessageType, error) {
	if ce := c.final.Load(); ce != nil {
		return 0, ce
	}
	if err := c.rctx.arm(ctx); err != nil {
		return 0, err
	}
	if err := c.awaitIdle(); err != nil {
		return 0, err
	}
	if err := c.skipStreamed(); err != nil {
		return 0, err
	}
	if c.inMsg {
		// Skip the rest of a message a deadline cut ReadMessage short in.
		if _, _, err := c.readMessage(c.partial[:0]); err != nil {
			return 0, err
		}
	}
	if err := c.beginMessage(); err != nil {
		if isTimeout(err) {
			return 0, err
		}
		return 0, c.readFailed(err)
	}
	if c.mr == nil {
		c.mr = &messageReader{c: c, raw: payloadReader{c}}
	}
	c.mr.zip, c.mr.open = nil, true
	if c.msgZip {
		c.mr.zip = c.codec.reader(&c.mr.raw, c.opts.ReadLimit)
	}
	if c.msgText {
		return Text, nil
	}
	return Binary, nil
}

// messageReader streams one message; raw yields its payload as sent.
type messageReader struct {
	c    *Conn
	ctx  context.Context // NextReader's
	raw  payloadReader
	zip  io.Reader
	open bool // the message has not ended
}

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.final.Load() != nil {
		return 0, c.final.Load()
	}
	if err := c.rctx.arm(r.ctx); err != nil {
		return 0, err
	}
	n, err := r.read(p)
	return n, c.rctx.result(err)
}

// skipStreamed reads to its end the message of the last NextReader, if the
// caller left it unread, the way its reader would: a compressed message
// must be inflated, since the next ones may refer to its text, and text
// must be valid throughout. The caller holds readMu.
func (c *Conn) skipStreamed() error {
	if c.mr == nil || !c.mr.open {
		return nil
	}
	scratch := make([]byte, 512) // escapes to the inflater: made only when needed
	for c.mr.open {
		if _, err := c.mr.read(scratch); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// read is Read under readMu.
func (r *messageReader) read(p []byte) (int, error) {
	c := r.c
	if !r.open {
		return 0, io.EOF
	}
	var n int
	var err error
	if r.zip != nil {
		n, err = r.zip.Read(p)
		switch {
		case n > 0 && c.msgText && !c.utf8.Write(p[:n]):
			err = frame.ErrInvalidUTF8
		case err == io.EOF:
			// The deflate stream may end before the message, with a block
			// marked final: what follows it is no data, as for ReadMessage.
			if err = c.discardPayload(); err == nil {
				if err = c.endMessage(); err == nil {
					err = io.EOF
				}
			}
		case isTimeout(err):
			// The inflater saw its input fail and cannot resume.
			r.open = false
			return n, c.readFailed(err)
		case err != nil:
			err = inflateError(err)
		}
	} else {
		n, err = r.raw.read(p)
	}
	if err != nil && !isTimeout(err) {
		r.open = false
		if err != io.EOF {
			err = c.readFailed(err)
		}
	}
	return n, err
}

// payloadReader reads the payload of the current message across its fragments,
// as sent (compressed or not).
type payloadReader struct{ c *Conn }

func (r *payloadReader) Read(p []byte) (int, error) {
	if err := r.c.toPayload(); err != nil {
		return 0, err
	}
	return r.c.readPayload(p)
}

// toPayload moves past the fragments that have no payload left, to the
// next byte of the message's payload; io.EOF at the message's end.
func (c *Conn) toPayload() error {
	for c.left == 0 {
		if c.hdr.Fin {
			return io.EOF
		}
		if err := c.nextFragment(); err != nil {
			return err
		}
	}
	return nil
}

// discardPayload drops the rest of the current message's payload.
func (c *Conn) discardPayload() error {
	for {
		if err := c.toPayload(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
			if err := c.fill(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		n := min(int64(c.w-c.r), c.left)
		c.r += int(n)
		c.left -= n
	}
}

func (r *payloadReader) read(p []byte) (int, error) {
	c := r.c
	n, err := r.Read(p)
	if n > 0 && c.msgText && !c.utf8.Write(p[:n]) {
		return n, frame.ErrInvalidUTF8
	}
	if err == io.EOF {
		if err = c.endMessage(); err == nil {
			err = io.EOF
		}
	}
	return n, err
}
