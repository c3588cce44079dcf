//go:build !unix

package conn

import (
	"errors"
	"net"
	"syscall"
)

func rawConnOf(net.Conn) syscall.RawConn { return nil }

type socketReader struct{}

func (r *socketReader) init(*Conn, syscall.RawConn) {}

func (r *socketReader) read(bool) (int, error) { return 0, errors.ErrUnsupported }
