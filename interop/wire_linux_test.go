package interop

import (
	"net"

	"golang.org/x/sys/unix"

	"github.com/pushwire/pushwire/conn"
)

// A wireCount is what a connection's socket sent and received, as the
// kernel counts it (TCP_INFO): what compression saved shows there.
type wireCount struct {
	ok             bool
	sent, received uint64
}

func wireOf(c *conn.Conn) wireCount {
	tc, ok := c.NetConn().(*net.TCPConn)
	if !ok {
		return wireCount{}
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return wireCount{}
	}
	var info *unix.TCPInfo
	if rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}) != nil || err != nil {
		return wireCount{}
	}
	return wireCount{ok: true, sent: info.Bytes_sent, received: info.Bytes_received}
}

func (w wireCount) since(start wireCount) wireCount {
	return wireCount{ok: w.ok && start.ok, sent: w.sent - start.sent, received: w.received - start.received}
}
