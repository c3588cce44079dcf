package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseExtensions(f *testing.F) {
	f.Add(string("permessage-deflate; client_max_window_bits"), string("x-webkit-deflate-frame"))
	f.Add(string("permessage-deflate; server_max_window_bits=\"10\"; client_no_context_takeover"), string("a, b; c=d"))
	f.Add(string(" x ;a = 1 ; b\t,\ty ; c=\"d\" "), string("z; q=\"\\a\\b\""))
	f.Add(string("x,,y"), string("x;"))
	f.Add(string("x; a=\"1 0\""), string("x; a=\"10"))
	f.Fuzz(func(t *testing.T, a, b string) {
		exts, err := ParseExtensions([]string{a, b})
		if err != nil {
			return
		}
		if err := checkExtensions(exts); err != nil {
			t.Fatalf("parsed %+v, which cannot be written: %v", exts, err)
		}
		enc := AppendExtensions(nil, exts)
		back, err := ParseExtensions([]string{string(enc)})
		if err != nil || !reflect.DeepEqual(back, exts) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", []string{a, b}, exts, enc, back, err)
		}
	})
}

func FuzzParseProtocols(f *testing.F) {
	f.Add(string("chat, superchat"), string("v2.json"))
	f.Add(string(" a\t,b "), string("c"))
	f.Add(string("a,,b"), string(""))
	f.Add(string("a b"), string("c/d"))
	f.Fuzz(func(t *testing.T, a, b string) {
		ps, err := ParseProtocols([]string{a, b})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !isToken(p) {
				t.Fatalf("%q is not a token", p)
			}
		}
		back, err := ParseProtocols([]string{strings.Join(ps, ", ")})
		if err != nil || !reflect.DeepEqual(back, ps) {
			t.Fatalf("%q -> %q -> %q, %v", []string{a, b}, ps, back, err)
		}
	})
}

// chunks reads its data a few bytes at a time, counting them.
type chunks struct {
	data []byte
	step int
	read int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	c.read += n
	return n, nil
}

// FuzzReadRequest checks the raw request parser reads no more than its
// bound, keeps what follows the head, and accepts nothing net/http would
// refuse or read differently.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), byte('\x03'), uint16(1024))
	f.Add([]byte("GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: https://example.com\r\n\r\n\x81\x857\xfa!=\x7f\x9fMQX"), byte('\x03'), uint16(1024))
	f.Add([]byte("GET /chat?x=1 HTTP/1.1\nHost: example.com\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n\n"), byte('\x03'), uint16(1024))
	f.Add([]byte("GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX: a\r\n b\r\n\r\n"), byte('\x03'), uint16(1024))
	f.Add([]byte("GET http://example.org/x HTTP/1.1\r\nHost: example.com\r\nhost: b\r\n\r\n"), byte('\x03'), uint16(1024))
	f.Add([]byte("\r\nGET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), byte('\x03'), uint16(1024))
	f.Add([]byte("GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"), byte('\x03'), uint16(1024))
	f.Fuzz(func(t *testing.T, data []byte, step uint8, limit uint16) {
		lim := 64 + int(limit)%4096
		in := &chunks{data: data, step: 1 + int(step)%64}
		r, rest, _, err := readRequest(in, lim)
		if in.read > lim {
			t.Fatalf("read %d bytes, bound %d", in.read, lim)
		}
		var herr *Error
		if err != nil {
			if errors.As(err, &herr) && herr.Status != 400 && herr.Status != 431 && herr.Status != 505 {
				t.Fatalf("status %d", herr.Status)
			}
			return
		}
		head := data[:in.read-len(rest)]
		if bytes.Index(head, []byte("\r\n\r\n")) != len(head)-4 || !bytes.Equal(rest, data[len(head):in.read]) {
			t.Fatalf("head %q and rest %q split %q wrongly", head, rest, data)
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("we accept what net/http refuses (%v): %q", err, head)
		}
		want.Header.Del("Host")
		if r.Method != want.Method || r.RequestURI != want.RequestURI || r.Proto != want.Proto || r.Host != want.Host ||
			!reflect.DeepEqual(r.Header, want.Header) || !reflect.DeepEqual(r.URL, want.URL) {
			t.Fatalf("read\n%+v\nnet/http read\n%+v", r, want)
		}
	})
}

// FuzzReadResponse checks the client accepts only a 101 that agrees with
// what it offered, and keeps what follows the head.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"), byte('\x05'))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n\x81\x02hi"), byte('\x05'))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n"), byte('\x05'))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: other\r\n\r\n"), byte('\x05'))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n\n"), byte('\x05'))
	f.Add([]byte("HTTP/1.1 101\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"), byte('\x05'))
	opts := &DialOptions{
		Subprotocols:   []string{"chat"},
		Extensions:     []Extension{{Name: "permessage-deflate"}},
		MaxHeaderBytes: 1024,
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		in := &chunks{data: data, step: 1 + int(step)%64}
		res, err := readResponse(in, sampleKey, opts)
		if in.read > opts.MaxHeaderBytes {
			t.Fatalf("read %d bytes, bound %d", in.read, opts.MaxHeaderBytes)
		}
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, []byte("HTTP/1.")) || !bytes.HasSuffix(data[:in.read], res.Buffered) || !bytes.Contains(data, []byte(sampleAccept)) {
			t.Fatalf("accepted %q", data)
		}
		if res.Subprotocol != "" && res.Subprotocol != "chat" {
			t.Fatalf("subprotocol %q", res.Subprotocol)
		}
		for _, e := range res.Extensions {
			if e.Name != "permessage-deflate" {
				t.Fatalf("extension %q", e.Name)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data[:in.read-len(res.Buffered)])), nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("net/http reads %v, %v", resp, err)
		}
	})
}
