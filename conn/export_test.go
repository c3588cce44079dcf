package conn

import (
	"time"
	"unsafe"
)

// SetCompressorIdle sets how long a compressor stays unused before it is
// released, and returns the function that restores the default.
func SetCompressorIdle(d time.Duration) (restore func()) {
	old := compressorIdle
	compressorIdle = d
	return func() { compressorIdle = old }
}

// SizeofConn is the size of a Conn.
const SizeofConn = unsafe.Sizeof(Conn{})

// ReaderIdle reports whether c's reader waits on an idle socket.
func ReaderIdle(c *Conn) bool { return c.readerIdle.Load() }

// HoldsWriteBuffer reports whether c holds a write buffer.
func HoldsWriteBuffer(c *Conn) bool {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	return c.wbuf != nil
}

// WriteDeadlineMoved reports whether c's socket holds a write deadline
// other than the user's.
func WriteDeadlineMoved(c *Conn) bool {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	return c.wctx.moved
}
