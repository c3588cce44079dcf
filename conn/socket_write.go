//go:build darwin || linux || openbsd

package conn

import (
	"context"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketWriter writes through the raw connection, so that a context armed
// for a write is watched only if the write would block: most writes find
// room in the socket's buffer, and then a per-call context costs nothing
// (see ctxWatch.pend). The system calls are nc.Write's and writev's.
type socketWriter struct {
	c   *Conn
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // w.try, made once
	iov [2][]byte             // what is left to write
	n   int64
	err error
	// blocked is NotifyWriteBlock's f, or nil; under frameMu.
	blocked func()
}

func newSocketWriter(c *Conn, rc syscall.RawConn) *socketWriter {
	w := &socketWriter{c: c, rc: rc}
	w.fn = w.try
	return w
}

// write writes a then b, whole or until an error.
func (w *socketWriter) write(a, b []byte) (int64, error) {
	w.iov = [2][]byte{a, b}
	w.n, w.err = 0, nil
	err := w.rc.Write(w.fn)
	w.iov = [2][]byte{}
	if err == nil {
		err = w.err
	}
	if oe, ok := err.(*net.OpError); ok && oe.Op == "raw-write" {
		oe.Op = "write" // as nc.Write says it
	}
	return w.n, err
}

func (w *socketWriter) try(fd uintptr) bool {
	for len(w.iov[0])+len(w.iov[1]) > 0 {
		var n int
		var err error
		if len(w.iov[1]) == 0 {
			n, err = unix.Write(int(fd), w.iov[0])
		} else {
			n, err = unix.Writev(int(fd), w.iov[:])
		}
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// The write waits for room: now a context must be watched.
			w.c.wctx.blocking()
			if w.blocked != nil {
				w.blocked()
			}
			return false
		default:
			w.err = os.NewSyscallError("write", err)
			return true
		}
		w.n += int64(n)
		if k := min(n, len(w.iov[0])); k > 0 {
			w.iov[0] = w.iov[0][k:]
			n -= k
		}
		w.iov[1] = w.iov[1][n:]
		if len(w.iov[0]) == 0 && len(w.iov[1]) > 0 {
			w.iov = [2][]byte{w.iov[1], nil}
		}
	}
	return true
}

// NotifyWriteBlock makes a write that finds the socket's send buffer full
// call f, on the writing goroutine, before it waits for room: a program
// that writes to many connections from a few goroutines can hand their
// other work on rather than wait with it. f must not write to c; nil stops
// the calls. It reports whether c can tell, which only a TCP or Unix socket
// can (not TLS, not HTTP/2): otherwise f is never called.
func (c *Conn) NotifyWriteBlock(f func()) bool {
	if c.sockw == nil {
		return false
	}
	c.lockFrame(context.Background())
	c.sockw.blocked = f
	c.unlockFrame()
	return true
}

// netWrite writes b, through the socket writer where there is one.
func (c *Conn) netWrite(b []byte) (int64, error) {
	if c.sockw != nil {
		return c.sockw.write(b, nil)
	}
	n, err := c.nc.Write(b)
	return int64(n), err
}

// netWritev writes a then b, in one system call where they fit.
func (c *Conn) netWritev(a, b []byte) (int64, error) {
	if c.sockw != nil {
		return c.sockw.write(a, b)
	}
	return c.ncWritev(a, b)
}
