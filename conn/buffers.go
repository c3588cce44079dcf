package conn

import (
	"sync"

	"github.com/pushwire/pushwire/frame"
)

// Buffers of the default sizes go back to these pools while their connection
// is idle; buffers of other sizes are the connection's own.
var (
	readPool  = sync.Pool{New: func() any { return new([DefaultReadBufferSize]byte) }}
	writePool = sync.Pool{New: func() any { return new([DefaultWriteBufferSize + frame.MaxHeaderSize]byte) }}
)

func getReadBuf(size int) []byte {
	if size != DefaultReadBufferSize {
		return make([]byte, size)
	}
	return readPool.Get().(*[DefaultReadBufferSize]byte)[:]
}

func getWriteBuf(size int) []byte {
	if size != DefaultWriteBufferSize {
		return make([]byte, 0, size+frame.MaxHeaderSize)
	}
	return writePool.Get().(*[DefaultWriteBufferSize + frame.MaxHeaderSize]byte)[:0]
}

// releaseBuffers gives the read buffer, which must hold nothing, and the
// write buffer, unless a write is under way or frames are held in it, back
// to their pools. The caller is the reader.
func (c *Conn) releaseBuffers() {
	if len(c.rbuf) == DefaultReadBufferSize {
		readPool.Put((*[DefaultReadBufferSize]byte)(c.rbuf))
		c.rbuf, c.r, c.w = nil, 0, 0
	}
	if c.frameMu.TryLock() {
		if len(c.wbuf) == 0 && cap(c.wbuf) == DefaultWriteBufferSize+frame.MaxHeaderSize {
			writePool.Put((*[DefaultWriteBufferSize + frame.MaxHeaderSize]byte)(c.wbuf[:cap(c.wbuf)]))
			c.wbuf = nil
		}
		c.unlockFrame()
	}
}
