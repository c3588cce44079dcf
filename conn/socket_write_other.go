//go:build !(darwin || linux || openbsd)

package conn

import "syscall"

// socketWriter has no use here: writes go through nc, and a context armed
// for a write is watched from the start.
type socketWriter struct{}

func newSocketWriter(*Conn, syscall.RawConn) *socketWriter { return nil }

// netWrite writes b.
func (c *Conn) netWrite(b []byte) (int64, error) {
	n, err := c.nc.Write(b)
	return int64(n), err
}

// netWritev writes a then b, in one system call where they fit.
func (c *Conn) netWritev(a, b []byte) (int64, error) { return c.ncWritev(a, b) }

// NotifyWriteBlock would make a write that finds the socket's send buffer
// full call f; here no connection can tell, so it reports false and f is
// never called.
func (c *Conn) NotifyWriteBlock(f func()) bool { return false }
