package handshake

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// proxyPorts are the default ports of the proxy schemes Dial speaks.
var proxyPorts = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}

// dialTCP returns a connection to addr, the host:port of u, directly or
// through the proxy opts.Proxy names for u.
func dialTCP(ctx context.Context, u *url.URL, addr string, opts *DialOptions) (net.Conn, error) {
	dial := opts.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	proxy := opts.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	// A proxy function chooses by the http(s) URL, as net/http's does.
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	pu, err := proxy(&http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: scheme, Host: u.Host}, Host: u.Host, Header: http.Header{}})
	if err != nil {
		return nil, failCause(0, ErrProxy, err)
	}
	if pu == nil {
		return dial(ctx, "tcp", addr)
	}
	port, ok := proxyPorts[pu.Scheme]
	if !ok {
		return nil, fail(0, ErrProxy, "unsupported scheme "+strconv.Quote(pu.Scheme))
	}
	if pu.Port() != "" {
		port = pu.Port()
	}
	nc, err := dial(ctx, "tcp", net.JoinHostPort(pu.Hostname(), port))
	if err != nil {
		return nil, err
	}
	// ctx bounds the tunnel's setup as it bounds the handshake.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	tunnel, err := openTunnel(ctx, nc, pu, addr, opts)
	if !stop() || err != nil && ctx.Err() != nil {
		err = fmt.Errorf("websocket: proxy %s: %w", pu.Redacted(), context.Cause(ctx))
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return tunnel, nil
}

// openTunnel asks the proxy at pu, connected on nc, for a tunnel to addr.
func openTunnel(ctx context.Context, nc net.Conn, pu *url.URL, addr string, opts *DialOptions) (net.Conn, error) {
	if pu.Scheme == "socks5" || pu.Scheme == "socks5h" {
		return nc, socksConnect(nc, pu.User, addr)
	}
	if pu.Scheme == "https" {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		cfg.ServerName = pu.Hostname()
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		nc = tc
	}
	return nc, httpConnect(nc, pu.User, addr, opts.MaxHeaderBytes)
}

// httpConnect asks an HTTP proxy to CONNECT to addr (RFC 9110 section
// 9.3.6), with Basic credentials if the proxy URL has them.
func httpConnect(nc net.Conn, user *url.Userinfo, addr string, limit int) error {
	b := make([]byte, 0, 128)
	b = append(b, "CONNECT "+addr+" HTTP/1.1\r\nHost: "+addr+"\r\n"...)
	if user != nil {
		pass, _ := user.Password()
		b = append(b, "Proxy-Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(user.Username()+":"+pass))
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("websocket: proxy: writing CONNECT: %w", err)
	}
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	head, _, rest, _, err := readHead(nc, limit, nil)
	switch err {
	case nil:
	case errTooLarge:
		return fail(0, ErrProxy, "response head larger than MaxHeaderBytes")
	case errBareLF:
		return fail(0, ErrProxy, "malformed response: "+err.Error())
	default:
		return fmt.Errorf("websocket: proxy: reading CONNECT's response: %w", err)
	}
	line, _ := cutLine(head)
	status, ok := parseStatusLine(line)
	switch {
	case !ok:
		return fail(0, ErrProxy, "malformed status line")
	case status < 200 || status > 299:
		return fail(status, ErrProxy, "")
	case len(rest) > 0:
		// The tunnel's far end speaks only after we do.
		return fail(0, ErrProxy, "bytes after the CONNECT response")
	}
	return nil
}

// The SOCKS version 5 protocol (RFC 1928) and its username/password
// authentication (RFC 1929).
const (
	socksVersion    = 5
	socksNoAuth     = 0
	socksPassword   = 2
	socksNoMethod   = 0xff
	socksConnectCmd = 1
	socksIPv4       = 1
	socksDomain     = 3
	socksIPv6       = 4
)

// socksReplies name the failures of RFC 1928 section 6.
var socksReplies = [...]string{1: "general failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
	4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported", 8: "address type not supported"}

// socksConnect asks a SOCKS5 proxy on nc to connect to addr, the host sent
// as a name for the proxy to resolve unless it is an IP address.
func socksConnect(nc net.Conn, user *url.Userinfo, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return failCause(0, ErrProxy, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fail(0, ErrProxy, "port "+strconv.Quote(portStr))
	}
	var name, pass string
	if user != nil {
		name = user.Username()
		pass, _ = user.Password()
	}
	if len(host) > 255 || len(name) > 255 || len(pass) > 255 {
		return fail(0, ErrProxy, "SOCKS5 host, user or password over 255 bytes")
	}
	method := byte(socksNoAuth)
	if user != nil {
		method = socksPassword
	}
	var buf [4 + 255 + 2]byte
	if _, err := nc.Write([]byte{socksVersion, 1, method}); err != nil {
		return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
	}
	if _, err := io.ReadFull(nc, buf[:2]); err != nil {
		return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
	}
	switch {
	case buf[0] != socksVersion:
		return fail(0, ErrProxy, "not a SOCKS5 proxy")
	case buf[1] == socksNoMethod, buf[1] != method:
		return fail(0, ErrProxy, "SOCKS5 proxy accepts none of the offered authentication methods")
	}
	if method == socksPassword {
		b := append(buf[:0], 1, byte(len(name)))
		b = append(append(b, name...), byte(len(pass)))
		b = append(b, pass...)
		if _, err := nc.Write(b); err != nil {
			return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
		}
		if _, err := io.ReadFull(nc, buf[:2]); err != nil {
			return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
		}
		if buf[1] != 0 {
			return fail(0, ErrProxy, "SOCKS5 proxy refused the username and password")
		}
	}
	b := append(buf[:0], socksVersion, socksConnectCmd, 0)
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			b = append(b, socksIPv4)
		} else {
			b = append(b, socksIPv6)
		}
		b = append(b, ip.AsSlice()...)
	} else {
		b = append(b, socksDomain, byte(len(host)))
		b = append(b, host...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
	}
	// VER REP RSV ATYP, then the bound address, whose length ATYP gives.
	if _, err := io.ReadFull(nc, buf[:5]); err != nil {
		return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
	}
	if buf[0] != socksVersion {
		return fail(0, ErrProxy, "not a SOCKS5 reply")
	}
	if rep := buf[1]; rep != 0 {
		reason := "reply " + strconv.Itoa(int(rep))
		if int(rep) < len(socksReplies) {
			reason = socksReplies[rep]
		}
		return fail(0, ErrProxy, "SOCKS5: "+reason)
	}
	var left int // of the bound address and port, past buf[4]
	switch buf[3] {
	case socksIPv4:
		left = 4 - 1 + 2
	case socksIPv6:
		left = 16 - 1 + 2
	case socksDomain:
		left = int(buf[4]) + 2
	default:
		return fail(0, ErrProxy, "SOCKS5 reply of unknown address type")
	}
	if _, err := io.ReadFull(nc, buf[:left]); err != nil {
		return fmt.Errorf("websocket: SOCKS5 proxy: %w", err)
	}
	return nil
}
