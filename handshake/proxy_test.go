package handshake

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/internal/leaktest"
)

// step is what a scripted proxy does: read n bytes, then write w.
type step struct {
	n int
	w string
}

// scriptedProxy serves one connection with steps, then closes it; with no
// steps it holds the connection, silent, until the client closes it.
func scriptedProxy(t *testing.T, steps []step) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for _, s := range steps {
			if s.n < 0 { // an HTTP request: up to its blank line
				var head []byte
				b := make([]byte, 1)
				for !strings.HasSuffix(string(head), "\r\n\r\n") {
					if _, err := c.Read(b); err != nil {
						return
					}
					head = append(head, b[0])
				}
			} else if _, err := io.ReadFull(c, make([]byte, s.n)); err != nil {
				return
			}
			if _, err := io.WriteString(c, s.w); err != nil {
				return
			}
		}
		if len(steps) == 0 {
			io.Copy(io.Discard, c)
		}
	}()
	return ln.Addr().String()
}

// A proxy that does not open the tunnel, says something else than its
// protocol, says too much or nothing at all fails Dial with ErrProxy or
// the context's error, within the context, in bounded memory.
func TestDialProxyRefuses(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	request := -1
	socksGreeting, socksRequest := 3, 10 // no credentials; 127.0.0.1:1
	for _, row := range []struct {
		name   string
		scheme string
		steps  []step
		status int    // of ErrProxy; -1: not ErrProxy
		want   string // in the error
	}{
		{"refused", "http", []step{{request, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"}}, 403, "proxy did not open a tunnel"},
		{"bad gateway", "http", []step{{request, "HTTP/1.1 502 Bad Gateway\r\n\r\n"}}, 502, ""},
		{"not HTTP", "http", []step{{request, "SSH-2.0-OpenSSH_9.2\r\n\r\n"}}, 0, "malformed status line"},
		{"bare LF", "http", []step{{request, "HTTP/1.1 200 OK\n\n"}}, 0, "malformed response"},
		{"head too large", "http", []step{{request, "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 2000)}}, 0, "larger than MaxHeaderBytes"},
		{"bytes after 200", "http", []step{{request, "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 "}}, 0, "bytes after the CONNECT response"},
		{"closed", "http", []step{{request, "HTTP/1.1 200"}}, -1, "unexpected EOF"},
		{"socks version", "socks5", []step{{socksGreeting, "\x04\x00"}}, 0, "not a SOCKS5 proxy"},
		{"socks no method", "socks5", []step{{socksGreeting, "\x05\xff"}}, 0, "none of the offered authentication"},
		{"socks other method", "socks5", []step{{socksGreeting, "\x05\x02"}}, 0, "none of the offered authentication"},
		{"socks refused", "socks5", []step{{socksGreeting, "\x05\x00"}, {socksRequest, "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"}}, 0, "SOCKS5: connection refused"},
		{"socks reply 99", "socks5", []step{{socksGreeting, "\x05\x00"}, {socksRequest, "\x05\x63\x00\x01\x00\x00\x00\x00\x00\x00"}}, 0, "SOCKS5: reply 99"},
		{"socks address type", "socks5", []step{{socksGreeting, "\x05\x00"}, {socksRequest, "\x05\x00\x00\x09\x00"}}, 0, "unknown address type"},
		{"socks short reply", "socks5", []step{{socksGreeting, "\x05\x00"}, {socksRequest, "\x05\x00\x00\x01\x7f"}}, -1, "EOF"},
		{"silent", "http", nil, -1, "context deadline exceeded"},
		{"socks silent", "socks5", nil, -1, "context deadline exceeded"},
	} {
		t.Run(row.name, func(t *testing.T) {
			addr := scriptedProxy(t, row.steps)
			timeout := 10 * time.Second
			if row.steps == nil {
				timeout = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			pu := &url.URL{Scheme: row.scheme, Host: addr}
			_, _, err := Dial(ctx, "ws://127.0.0.1:1/", &DialOptions{
				MaxHeaderBytes: 1024,
				Proxy:          func(*http.Request) (*url.URL, error) { return pu, nil },
			})
			var he *Error
			switch {
			case err == nil:
				t.Fatal("Dial succeeded")
			case row.status >= 0 && (!errors.Is(err, ErrProxy) || !errors.As(err, &he) || he.Status != row.status):
				t.Fatalf("Dial: %v, want ErrProxy with status %d", err, row.status)
			case !strings.Contains(err.Error(), row.want):
				t.Fatalf("Dial: %v, want it to say %q", err, row.want)
			}
		})
	}
}
