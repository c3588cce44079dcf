package conn

import (
	"context"
	"errors"
	"io"

	"github.com/pushwire/pushwire/frame"
)

// Streamed writes: NextWriter and the writer that fragments a message.

var errWriterClosed = errors.New("conn: write to a closed message writer")

// NextWriter starts a message of type typ and returns a writer for its
// payload; the message is sent in fragments as the writer's buffer fills and
// ends when the writer is closed. Other messages wait until then; control
// frames do not.
func (c *Conn) NextWriter(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != Text && typ != Binary {
		return nil, ErrMessageType
	}
	if err := c.lockMessage(ctx); err != nil {
		return nil, err
	}
	if c.mw == nil {
		c.mw = &messageWriter{c: c}
	}
	c.streaming = true
	if c.codec != nil {
		c.compressing()
	}
	c.unlockFrame()
	w := c.mw
	w.ctx = ctx
	w.op = frame.OpBinary
	if typ == Text {
		w.op = frame.OpText
	}
	w.open = true
	w.rsv = 0
	w.zip = nil
	if c.codec != nil {
		w.rsv = frame.Rsv1
		w.zip = c.codec.writer(&w.raw)
	}
	w.raw.w = w
	if w.buf == nil {
		w.buf = make([]byte, 0, c.opts.WriteBufferSize)
	}
	return w, nil
}

type messageWriter struct {
	c    *Conn
	ctx  context.Context
	op   frame.Opcode // of the next frame: the message's type, then continuation
	rsv  byte
	open bool
	buf  []byte
	raw  fragmenter
	zip  io.WriteCloser
	// ended is closed when the message ends, for the data messages that
	// wait for it; made by the first, under frameMu.
	ended chan struct{}
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errWriterClosed
	}
	if w.zip != nil {
		return w.zip.Write(p)
	}
	return w.raw.Write(p)
}

func (w *messageWriter) Close() error {
	if !w.open {
		return errWriterClosed
	}
	w.open = false
	defer w.c.endStream()
	if w.zip != nil {
		if err := w.zip.Close(); err != nil {
			return err
		}
	}
	return w.flush(true)
}

// endStream lets other data messages go, whether the stream ended well or
// not.
func (c *Conn) endStream() {
	c.lockFrame(context.Background())
	c.streaming = false
	if c.mw.ended != nil {
		close(c.mw.ended)
		c.mw.ended = nil
	}
	c.unlockFrame()
}

func (w *messageWriter) flush(fin bool) error {
	c := w.c
	if err := c.lockFrame(w.ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	err := c.writeFrameContext(w.ctx, frame.Header{Fin: fin, Op: w.op, Rsv: w.rsv}, w.buf)
	w.buf = w.buf[:0]
	w.op, w.rsv = frame.OpContinuation, 0
	return err
}

// fragmenter buffers a message's (possibly compressed) payload and sends a
// fragment each time the buffer fills.
type fragmenter struct{ w *messageWriter }

func (f *fragmenter) Write(p []byte) (int, error) {
	w := f.w
	n := 0
	for len(p) > 0 {
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}
