package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"

	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/handshake"
)

// DialOptions configure the client side of the opening handshake and the
// connection it makes.
type DialOptions struct {
	Options
	// Header holds extra request header fields (Origin, Authorization,
	// Cookie...); the handshake's own are refused.
	Header http.Header
	// Subprotocols are offered in order of preference; Conn.Subprotocol
	// says which the server chose.
	Subprotocols []string
	// Compression offers permessage-deflate.
	Compression *deflate.Config
	// TLSConfig is used for wss:// (cloned; ServerName defaults to the
	// URL's host).
	TLSConfig *tls.Config
	// NetDialContext dials the TCP connection, to the server or its proxy;
	// default a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy chooses the proxy, as handshake.DialOptions.Proxy: nil means
	// http.ProxyFromEnvironment; http://, https:// and socks5:// proxies.
	Proxy func(*http.Request) (*url.URL, error)
	// MaxHeaderBytes bounds the response's head (default 8 KiB).
	MaxHeaderBytes int
	// HTTP2, if set, opens the WebSocket on an HTTP/2 connection (RFC
	// 8441) with this RoundTripper, which must send extended CONNECT, such
	// as golang.org/x/net/http2's Transport (its TLSClientConfig, not
	// TLSConfig, applies). Shared by many Dials, it carries their
	// WebSockets on one TCP connection per server. When the server does
	// not offer it (no h2, or no SETTINGS_ENABLE_CONNECT_PROTOCOL), or the
	// round trip fails before an answer, Dial opens the WebSocket over
	// HTTP/1.1 as without it.
	HTTP2 http.RoundTripper
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL. ctx bounds the
// opening handshake only.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, error) {
	var do handshake.DialOptions
	var o *Options
	neg := &negotiation{}
	if opts != nil {
		do = handshake.DialOptions{
			Header:         opts.Header,
			Subprotocols:   opts.Subprotocols,
			TLSConfig:      opts.TLSConfig,
			NetDialContext: opts.NetDialContext,
			Proxy:          opts.Proxy,
			MaxHeaderBytes: opts.MaxHeaderBytes,
		}
		o = &opts.Options
		neg.cfg = opts.Compression
	}
	neg.offer(&do)
	var h2err error
	if opts != nil && opts.HTTP2 != nil {
		c, err := dialHTTP2(ctx, url, opts.HTTP2, &do, o, neg)
		if _, answered := errors.AsType[*handshake.Error](err); err == nil || answered || ctx.Err() != nil {
			return c, err
		}
		h2err = err
	}
	nc, res, err := handshake.Dial(ctx, url, &do)
	if err != nil {
		return nil, errors.Join(h2err, err)
	}
	c := newConn(nc, Client, res.Buffered, o, neg.codec(false))
	c.subprotocol = res.Subprotocol
	return c, nil
}
