//go:build !unix

package conn

import (
	"errors"
	"net"
	"syscall"
)

func rawConnOf(net.Conn) syscall.RawConn { return nil }

type rawRead struct{}

func (r *rawRead) init(*Conn, syscall.RawConn) {}

func (r *rawRead) read(bool) (int, error) { return 0, errors.ErrUnsupported }
