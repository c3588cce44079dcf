package conn

import (
	"sync"

	"github.com/pushwire/pushwire/frame"
)

// largeBufferSize is what buffers of the default sizes grow to under load.
const largeBufferSize = 64 << 10

// Buffers of the default sizes come from these pools and go back while their
// connection is idle; buffers of other sizes are the connection's own. While
// reads fill the read buffer, or held frames the write buffer, the next one
// taken is large: a busy connection makes fewer system calls, and an idle one
// still holds no buffer.
var (
	readPool       = sync.Pool{New: func() any { return new([DefaultReadBufferSize]byte) }}
	largeReadPool  = sync.Pool{New: func() any { return new([largeBufferSize]byte) }}
	writePool      = sync.Pool{New: func() any { return new([DefaultWriteBufferSize + frame.MaxHeaderSize]byte) }}
	largeWritePool = sync.Pool{New: func() any { return new([largeBufferSize + frame.MaxHeaderSize]byte) }}
)

// readBuf makes sure rbuf is there and of the size reads need. It moves to
// a new buffer the bytes rbuf holds, which sit at its start and are fewer
// than a default buffer holds (see fill).
func (c *Conn) readBuf() {
	if c.rbuf != nil && (c.opts.ReadBufferSize != DefaultReadBufferSize ||
		(len(c.rbuf) == largeBufferSize) == c.largeRead) {
		return
	}
	old := c.rbuf
	switch {
	case c.opts.ReadBufferSize != DefaultReadBufferSize:
		c.rbuf = make([]byte, c.opts.ReadBufferSize)
	case c.largeRead:
		c.rbuf = largeReadPool.Get().(*[largeBufferSize]byte)[:]
	default:
		c.rbuf = readPool.Get().(*[DefaultReadBufferSize]byte)[:]
	}
	if old != nil {
		copy(c.rbuf, old[:c.w])
		putReadBuf(old)
	}
}

// sizeRead notes from a read of n bytes into rbuf[c.w:] whether reads need
// the large buffer. Only a read at a frame's start tells: one that fills the
// buffer with a frame of at most half the default buffer says yes, since
// more such frames are likely waiting and a read can take many at once; one
// that fills it with a larger frame says no, since large frames gain less
// from sharing a read than the connection's memory grows; one that would
// have fit the default buffer says no.
func (c *Conn) sizeRead(n int) {
	if c.opts.ReadBufferSize != DefaultReadBufferSize || c.w > 0 || c.left > 0 {
		return
	}
	switch {
	case n == len(c.rbuf):
		h, hn, err := frame.Parse(c.rbuf[:n])
		c.largeRead = err == nil && h.Length <= int64(DefaultReadBufferSize/2-hn)
	case n < DefaultReadBufferSize:
		c.largeRead = false
	}
}

// putReadBuf gives b back to its pool if it came from one. Only for the
// default sizes: others are never pooled.
func putReadBuf(b []byte) {
	switch len(b) {
	case DefaultReadBufferSize:
		readPool.Put((*[DefaultReadBufferSize]byte)(b))
	case largeBufferSize:
		largeReadPool.Put((*[largeBufferSize]byte)(b))
	}
}

// writeBuf makes sure wbuf is there and, when it holds nothing, of the size
// writes need. The caller holds frameMu.
func (c *Conn) writeBuf() {
	if c.wbuf != nil && (len(c.wbuf) > 0 || c.opts.WriteBufferSize != DefaultWriteBufferSize ||
		(cap(c.wbuf) == largeBufferSize+frame.MaxHeaderSize) == c.largeWrite) {
		return
	}
	if c.wbuf != nil {
		c.putWriteBuf()
	}
	switch {
	case c.opts.WriteBufferSize != DefaultWriteBufferSize:
		c.wbuf = make([]byte, 0, c.opts.WriteBufferSize+frame.MaxHeaderSize)
	case c.largeWrite:
		c.wbuf = largeWritePool.Get().(*[largeBufferSize + frame.MaxHeaderSize]byte)[:0]
	default:
		c.wbuf = writePool.Get().(*[DefaultWriteBufferSize + frame.MaxHeaderSize]byte)[:0]
	}
}

// putWriteBuf gives wbuf, which must hold nothing, back to its pool if it
// came from one. Only for the default sizes. The caller holds frameMu.
func (c *Conn) putWriteBuf() {
	switch cap(c.wbuf) {
	case DefaultWriteBufferSize + frame.MaxHeaderSize:
		writePool.Put((*[DefaultWriteBufferSize + frame.MaxHeaderSize]byte)(c.wbuf[:cap(c.wbuf)]))
	case largeBufferSize + frame.MaxHeaderSize:
		largeWritePool.Put((*[largeBufferSize + frame.MaxHeaderSize]byte)(c.wbuf[:cap(c.wbuf)]))
	}
	c.wbuf = nil
}

// releaseBuffers gives the read buffer, which must hold nothing, and the
// write buffer, unless a write is under way or frames are held in it, back
// to their pools. The caller is the reader.
func (c *Conn) releaseBuffers() {
	if c.rbuf != nil && c.opts.ReadBufferSize == DefaultReadBufferSize {
		putReadBuf(c.rbuf)
		c.rbuf, c.r, c.w = nil, 0, 0
	}
	if c.opts.WriteBufferSize == DefaultWriteBufferSize && c.frameMu.TryLock() {
		if c.wbuf != nil && len(c.wbuf) == 0 {
			c.putWriteBuf()
		}
		c.unlockFrame()
	}
}
