package handshake

import (
	"net"
	"strings"
	"testing"
	"time"
)

// memConn is a net.Conn that reads a request from memory and discards
// what is written, so that a benchmark measures the handshake alone.
type memConn struct {
	net.Conn
	in  strings.Reader
	out int
}

var memAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 54321}

func (c *memConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *memConn) Write(p []byte) (int, error) { c.out += len(p); return len(p), nil }
func (c *memConn) SetDeadline(time.Time) error { return nil }
func (c *memConn) RemoteAddr() net.Addr        { return memAddr }

// browserRequest is what a browser sends, give or take its cookies.
var browserRequest = "GET /chat HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: https://example.com\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Sec-WebSocket-Key: " + sampleKey + "\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"\r\n"

func BenchmarkUpgradeConn(b *testing.B) {
	for _, bb := range []struct {
		name string
		req  string
		opts *ServerOptions
	}{
		{"minimal", request(""), nil},
		{"browser", browserRequest, &ServerOptions{Subprotocols: []string{"chat"}}},
		{"browser+deflate", browserRequest, &ServerOptions{Extensions: func(offers []Extension) ([]Extension, error) {
			return []Extension{{Name: "permessage-deflate"}}, nil
		}}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.req)))
			c := &memConn{}
			for b.Loop() {
				c.in.Reset(bb.req)
				if _, err := UpgradeConn(c, bb.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUpgrade(b *testing.B) {
	r, _, _, err := readRequest(strings.NewReader(browserRequest), 0)
	if err != nil {
		b.Fatal(err)
	}
	opts := &ServerOptions{}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, herr := check(r, opts, nil); herr != nil {
			b.Fatal(herr)
		}
	}
}

func BenchmarkReadResponse(b *testing.B) {
	resp := response("")(sampleKey)
	opts := &DialOptions{}
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	var in strings.Reader
	for b.Loop() {
		in.Reset(resp)
		if _, err := readResponse(&in, sampleKey, opts); err != nil {
			b.Fatal(err)
		}
	}
}
