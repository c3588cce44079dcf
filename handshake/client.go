package handshake

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DialOptions configure the client side of the handshake. The zero value
// offers no subprotocol and no extension.
type DialOptions struct {
	// Header holds extra request header fields (Origin, Authorization,
	// Cookie...). A Host field replaces the URL's host in the request; the
	// handshake's own fields (Upgrade, Connection, Sec-WebSocket-*) are
	// refused.
	Header http.Header
	// Subprotocols are offered in order of preference.
	Subprotocols []string
	// Extensions are offered in order.
	Extensions []Extension
	// CheckExtensions verifies the extensions the server accepted (none
	// included), after their names were checked against the offers, for
	// example their parameters; an error fails the handshake.
	CheckExtensions func(accepted []Extension) error
	// TLSConfig is used for wss:// (cloned; ServerName defaults to the URL's
	// host).
	TLSConfig *tls.Config
	// NetDialContext dials the TCP connection, to the server or its proxy;
	// default a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy returns the proxy to reach the server through, or nil to dial
	// it directly, as http.Transport's Proxy does, given a request for the
	// URL's http:// form (https:// for wss://). An http:// or https:// proxy
	// is asked to CONNECT, a socks5:// (or socks5h://) proxy to connect,
	// host names resolved by the proxy; the proxy URL's user and password
	// are sent as its credentials. nil means http.ProxyFromEnvironment
	// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY: loopback is never proxied); a
	// function returning nil, nil dials directly.
	Proxy func(*http.Request) (*url.URL, error)
	// MaxHeaderBytes bounds the response's status line and header fields.
	// Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// Dial connects to a ws:// or wss:// URL (default ports 80 and 443), through
// a proxy if opts.Proxy names one, and runs the client handshake. ctx bounds
// the dial, the proxy's tunnel, the TLS handshake and the WebSocket
// handshake, not the connection returned.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (net.Conn, Result, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, Result{}, err
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	nc, err := dialTCP(ctx, u, net.JoinHostPort(u.Hostname(), port), opts)
	if err != nil {
		return nil, Result{}, err
	}
	if u.Scheme == "wss" {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, Result{}, err
		}
		nc = tc
	}
	res, err := client(ctx, nc, u, opts)
	if err != nil {
		nc.Close()
		return nil, Result{}, err
	}
	return nc, res, nil
}

// Client runs the client handshake over an established connection, for the
// resource named by rawURL. ctx bounds the handshake; on failure the caller
// closes nc.
func Client(ctx context.Context, nc net.Conn, rawURL string, opts *DialOptions) (Result, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return Result{}, err
	}
	return client(ctx, nc, u, opts)
}

// parseURL accepts ws:// and wss:// URLs with a host and, as RFC 6455
// section 3 asks, no fragment.
func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.Fragment != "" || strings.Contains(rawURL, "#") {
		return nil, fail(0, ErrURL, rawURL)
	}
	return u, nil
}

// aLongTimeAgo is a deadline already past, to wake a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

func client(ctx context.Context, nc net.Conn, u *url.URL, opts *DialOptions) (Result, error) {
	// ctx's end, deadline included, moves the socket's deadline: copying
	// ctx's deadline onto the socket could fire a moment before ctx's own
	// timer and report an i/o timeout instead.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	res, err := roundTrip(nc, u, opts)
	if !stop() || err != nil && ctx.Err() != nil {
		return Result{}, fmt.Errorf("websocket handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		return Result{}, err
	}
	nc.SetDeadline(time.Time{})
	return res, nil
}

func roundTrip(nc net.Conn, u *url.URL, opts *DialOptions) (Result, error) {
	req, key, err := appendRequest(nil, u, opts)
	if err != nil {
		return Result{}, err
	}
	if _, err := nc.Write(req); err != nil {
		return Result{}, fmt.Errorf("websocket handshake: writing request: %w", err)
	}
	return readResponse(nc, key, opts)
}

// appendRequest appends the opening request to b; it returns the key sent.
func appendRequest(b []byte, u *url.URL, opts *DialOptions) ([]byte, string, error) {
	for _, p := range opts.Subprotocols {
		if !isToken(p) {
			return nil, "", fail(0, ErrProtocols, "offer "+p)
		}
	}
	if err := checkExtensions(opts.Extensions); err != nil {
		return nil, "", failCause(0, ErrExtensions, err)
	}
	if err := checkHeader(opts.Header); err != nil {
		return nil, "", err
	}
	host := u.Host
	if h := opts.Header.Get("Host"); h != "" {
		host = h
	}
	key := NewKey()
	b = append(b, "GET "...)
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if len(opts.Subprotocols) > 0 {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, strings.Join(opts.Subprotocols, ", ")...)
		b = append(b, "\r\n"...)
	}
	if len(opts.Extensions) > 0 {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = AppendExtensions(b, opts.Extensions)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, opts.Header, "Host")
	b = append(b, "\r\n"...)
	return b, key, nil
}

// readResponse reads the server's answer to key and verifies it strictly
// (RFC 6455 section 4.1).
func readResponse(r io.Reader, key string, opts *DialOptions) (Result, error) {
	limit := opts.MaxHeaderBytes
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	head, lines, rest, _, err := readHead(r, limit, nil)
	switch err {
	case nil:
	case errTooLarge:
		return Result{}, fail(0, ErrHeaderTooLarge, "")
	case errBareLF:
		return Result{}, fail(0, ErrMalformed, err.Error())
	default:
		return Result{}, fmt.Errorf("websocket handshake: reading response: %w", err)
	}
	line, fields := cutLine(head)
	status, ok := parseStatusLine(line)
	if !ok {
		return Result{}, fail(0, ErrMalformed, "status line")
	}
	// Whatever the body of another status, it is not ours to read.
	if status != http.StatusSwitchingProtocols {
		return Result{}, fail(status, ErrStatus, "")
	}
	h, err := parseFields(fields, lines-1, nil)
	if err != nil {
		return Result{}, fail(0, ErrMalformed, err.Error())
	}
	switch acc := h["Sec-Websocket-Accept"]; {
	case !hasToken(h, "Upgrade", "websocket"):
		return Result{}, fail(0, ErrUpgradeResponse, "")
	case !hasToken(h, "Connection", "upgrade"):
		return Result{}, fail(0, ErrConnectionResponse, "")
	case len(acc) != 1 || acc[0] != AcceptKey(key):
		return Result{}, fail(0, ErrAccept, "")
	}
	res, err := agreement(h, opts)
	if err != nil {
		return Result{}, err
	}
	res.Buffered = rest
	return res, nil
}

// agreement checks the subprotocol and extensions a server's answer chose
// against what opts offered.
func agreement(h http.Header, opts *DialOptions) (Result, error) {
	var res Result
	var err error
	switch p := h["Sec-Websocket-Protocol"]; {
	case len(p) == 0:
	case len(p) > 1 || !slices.Contains(opts.Subprotocols, p[0]):
		return Result{}, fail(0, ErrProtocolNotOffered, strings.Join(p, ", "))
	default:
		res.Subprotocol = p[0]
	}
	if v := h["Sec-Websocket-Extensions"]; len(v) > 0 {
		if res.Extensions, err = ParseExtensions(v); err != nil {
			return Result{}, failCause(0, ErrExtensions, err)
		}
	}
	for _, e := range res.Extensions {
		if !slices.ContainsFunc(opts.Extensions, func(o Extension) bool { return o.Name == e.Name }) {
			return Result{}, fail(0, ErrExtensionNotOffered, e.Name)
		}
	}
	if opts.CheckExtensions != nil {
		if err := opts.CheckExtensions(res.Extensions); err != nil {
			return Result{}, failCause(0, ErrExtensionCheck, err)
		}
	}
	return res, nil
}

// parseStatusLine parses "HTTP/1.x 101 Reason" and returns the status.
func parseStatusLine(line string) (int, bool) {
	version, rest, _ := strings.Cut(line, " ")
	major, _, ok := parseVersion(version)
	if !ok || major != 1 || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return 0, false
	}
	code := 0
	for i := range 3 {
		if !isDigit(rest[i]) {
			return 0, false
		}
		code = code*10 + int(rest[i]-'0')
	}
	return code, code >= 100
}
