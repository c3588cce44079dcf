package handshake

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DialOptions configure the client side of the handshake.
type DialOptions struct {
	// Header holds extra request headers (Origin, Authorization, cookies).
	Header http.Header
	// Subprotocols and Extensions are offered in order.
	Subprotocols []string
	Extensions   []Extension
	// CheckExtensions verifies the extensions the server accepted (their
	// names were offered); an error fails the handshake.
	CheckExtensions func(accepted []Extension) error
	TLSConfig       *tls.Config
	// NetDialContext dials the TCP connection; default a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxHeaderBytes bounds the response head. Default 8 KiB.
	MaxHeaderBytes int
}

// Dial connects to a ws:// or wss:// URL and runs the client handshake. ctx
// bounds the dial, the TLS handshake and the WebSocket handshake.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (net.Conn, Result, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, Result{}, fail(0, ErrURL, rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dial := opts.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
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

// Client runs the client handshake over an established connection.
func Client(ctx context.Context, nc net.Conn, rawURL string, opts *DialOptions) (Result, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return Result{}, fail(0, ErrURL, rawURL)
	}
	return client(ctx, nc, u, opts)
}

func client(ctx context.Context, nc net.Conn, u *url.URL, opts *DialOptions) (Result, error) {
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	res, err := roundTrip(nc, u, opts)
	if !stop() {
		return Result{}, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	return res, err
}

func roundTrip(nc net.Conn, u *url.URL, opts *DialOptions) (Result, error) {
	key := NewKey()
	target := u.RequestURI()
	b := make([]byte, 0, 512)
	b = append(b, "GET "+target+" HTTP/1.1\r\nHost: "+u.Host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\n"...)
	if len(opts.Subprotocols) > 0 {
		b = append(b, "Sec-WebSocket-Protocol: "+strings.Join(opts.Subprotocols, ", ")+"\r\n"...)
	}
	if len(opts.Extensions) > 0 {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = AppendExtensions(b, opts.Extensions)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, opts.Header)
	b = append(b, "\r\n"...)
	if _, err := nc.Write(b); err != nil {
		return Result{}, err
	}

	limit := opts.MaxHeaderBytes
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	head, rest, err := readHead(nc, limit)
	if err != nil {
		if err == errHeadTooLarge {
			return Result{}, fail(0, ErrHeaderTooLarge, "response")
		}
		return Result{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(head), len(head)), nil)
	if err != nil {
		return Result{}, fail(0, ErrMalformed, err.Error())
	}
	resp.Body.Close()
	if err := verify(resp, key, opts); err != nil {
		return Result{}, err
	}
	res := Result{Buffered: rest}
	res.Subprotocol = resp.Header.Get("Sec-WebSocket-Protocol")
	res.Extensions, _ = ParseExtensions(resp.Header["Sec-Websocket-Extensions"])
	return res, nil
}

// verify checks the server's response strictly (RFC 6455 section 4.1).
func verify(resp *http.Response, key string, opts *DialOptions) error {
	h := resp.Header
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return fail(resp.StatusCode, ErrStatus, "")
	case !hasToken(h, "Upgrade", "websocket"):
		return fail(0, ErrUpgradeResponse, "")
	case !hasToken(h, "Connection", "upgrade"):
		return fail(0, ErrConnectionResponse, "")
	case h.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		return fail(0, ErrAccept, "")
	}
	protos, err := ParseProtocols(h["Sec-Websocket-Protocol"])
	if err != nil || len(protos) > 1 || (len(protos) == 1 && !slices.Contains(opts.Subprotocols, protos[0])) {
		return fail(0, ErrProtocolNotOffered, strings.Join(h["Sec-Websocket-Protocol"], ", "))
	}
	exts, err := ParseExtensions(h["Sec-Websocket-Extensions"])
	if err != nil {
		return fail(0, ErrExtensions, "")
	}
	for _, e := range exts {
		offered := false
		for _, o := range opts.Extensions {
			offered = offered || o.Name == e.Name
		}
		if !offered {
			return fail(0, ErrExtensionNotOffered, e.Name)
		}
	}
	if opts.CheckExtensions != nil {
		if err := opts.CheckExtensions(exts); err != nil {
			return fail(0, ErrExtensions, err.Error())
		}
	}
	return nil
}
