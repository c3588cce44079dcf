package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pushwire/pushwire/frame"
)

// BenchmarkHandshake is the life of a short connection to each library's
// echo server: connect, upgrade, one 16-byte message echoed, the close
// handshake. The client is the same raw one for every library, so only
// the server differs; allocations are the process's, the client's share
// being the same in every row. The floor row is a server that checks
// nothing and answers with canned bytes: what TCP and the scheduler cost
// on this machine, which no library can beat.
func BenchmarkHandshake(b *testing.B) {
	hs := &handshaker{
		req: []byte("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
		msg:   clientFrame(frame.OpBinary, 0, payload(16)),
		close: clientFrame(frame.OpClose, 0, frame.AppendClose(nil, frame.CloseNormal, "")),
		buf:   make([]byte, 4096),
	}
	for _, l := range append(libs, lib{name: "floor", serve: floorServe}) {
		b.Run(l.name, func(b *testing.B) {
			srv := l.serve(listen(b), plain, nop)
			defer srv.stop()
			b.ReportAllocs()
			for b.Loop() {
				if err := hs.once(srv.addr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// handshaker is the raw client of BenchmarkHandshake.
type handshaker struct {
	req, msg, close, buf []byte
}

var switching = []byte("HTTP/1.1 101 ")

func (h *handshaker) once(addr string) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	tc := nc.(*net.TCPConn)
	defer func() {
		tc.SetLinger(0) // the server hung up first: no TIME_WAIT to pile up
		tc.Close()
	}()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := tc.Write(h.req); err != nil {
		return err
	}
	n, end := 0, -1
	for end < 0 {
		k, err := tc.Read(h.buf[n:])
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		n += k
		end = bytes.Index(h.buf[:n], []byte("\r\n\r\n"))
	}
	if !bytes.HasPrefix(h.buf, switching) {
		return fmt.Errorf("answer %q", h.buf[:end])
	}
	if end+4 != n {
		return errors.New("frames before the first message")
	}
	if _, err := tc.Write(h.msg); err != nil {
		return err
	}
	// The echo, unmasked: a 2-byte header and the 16 bytes.
	if _, err := io.ReadFull(tc, h.buf[:18]); err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if _, err := tc.Write(h.close); err != nil {
		return err
	}
	// The server's close frame, then its end of the connection.
	if rest, err := io.ReadAll(tc); err != nil {
		return fmt.Errorf("waiting for the server to hang up: %w", err)
	} else if len(rest) < 4 || rest[0] != 0x80|byte(frame.OpClose) {
		return fmt.Errorf("no close frame: %x", rest)
	}
	return nil
}

// floorServe answers BenchmarkHandshake's client with the fewest system
// calls and no checks: the cost of the connection itself.
func floorServe(ln net.Listener, _ compMode, _ func()) *tcpServer {
	answer := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
	return serveRaw(ln, func(nc net.Conn) {
		defer nc.Close()
		var b [1024]byte
		n := 0
		for !bytes.Contains(b[:n], []byte("\r\n\r\n")) {
			k, err := nc.Read(b[n:])
			if err != nil {
				return
			}
			n += k
		}
		nc.Write(answer)
		if _, err := io.ReadFull(nc, b[:6+16]); err != nil { // the masked message
			return
		}
		b[4], b[5] = 0x80|byte(frame.OpBinary), 16
		nc.Write(b[4 : 6+16])                               // the echo's length is all the client checks
		if _, err := io.ReadFull(nc, b[:6+2]); err != nil { // the masked close
			return
		}
		nc.Write([]byte{0x80 | byte(frame.OpClose), 2, 0x03, 0xe8})
	})
}
