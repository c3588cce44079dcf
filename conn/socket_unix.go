//go:build unix

package conn

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConnOf returns nc's raw connection when the Conn may read through it:
// only for the standard library's own sockets, whose Read is the system call
// and nothing more. A wrapper that embeds one may buffer or transform.
func rawConnOf(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch t := nc.(type) {
	case *net.TCPConn:
		sc = t
	case *net.UnixConn:
		sc = t
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// payloadReader reads into rbuf through the raw connection. When the socket has
// nothing and rbuf holds nothing either, it gives the buffers back to their
// pools before parking, so that an idle connection holds no buffer; the
// system calls are the same as nc.Read's.
type socketReader struct {
	c   *Conn
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // r.try, made once
	n   int
	err error
}

func (r *socketReader) init(c *Conn, rc syscall.RawConn) {
	r.c, r.rc = c, rc
	r.fn = r.try
}

// read reads once. With CoalesceWrites, held frames go out first when early
// is set (at a message boundary, where the peer may be waiting for them),
// else only if the socket has nothing.
func (r *socketReader) read(early bool) (int, error) {
	c := r.c
	r.n, r.err = 0, nil
	if early && c.opts.CoalesceWrites {
		c.beforeWait()
	}
	err := r.rc.Read(r.fn)
	if c.opts.CoalesceWrites {
		c.notWaiting()
	}
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

func (r *socketReader) try(fd uintptr) bool {
	c := r.c
	if c.readerIdle.Load() {
		c.readerIdle.Store(false)
	}
	c.readBuf()
	for {
		n, err := unix.Read(int(fd), c.rbuf[c.w:])
		switch err {
		case nil:
			c.sizeRead(n)
			r.n = n
			if n == 0 {
				r.err = io.EOF
			}
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if c.opts.CoalesceWrites {
				c.beforeWait()
			}
			if c.w == 0 {
				c.releaseBuffers()
				c.readerIdle.Store(true)
			}
			return false
		default:
			r.err = os.NewSyscallError("read", err)
			return true
		}
	}
}
