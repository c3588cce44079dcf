package handshake

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds UpgradeConn when ServerOptions.Timeout is not set.
const DefaultTimeout = 10 * time.Second

// ServerOptions configure the server side of the handshake. The zero value
// accepts any valid request from the same origin, with no subprotocol and no
// extension.
type ServerOptions struct {
	// Subprotocols are the supported subprotocols in order of preference:
	// the first of them that the client offered is chosen.
	Subprotocols []string
	// By default a request with an Origin header is accepted only if the
	// origin's host equals the Host header (same origin); a request without
	// one, from a client that is not a browser, is accepted. OriginPatterns
	// allows more origin hosts, as case-insensitive path.Match patterns such
	// as "*.example.com" or "example.com:8080". TrustedProxies are reverse
	// proxies whose forwarding headers name the host instead of Host. See
	// OriginPolicy.
	OriginPatterns []string
	TrustedProxies []netip.Prefix
	// CheckOrigin, if set, replaces the policy above.
	CheckOrigin func(r *http.Request) bool
	// Extensions receives the client's offers, in order, and returns those to
	// accept, which the response lists. nil declines all. An error means the
	// offers are malformed: the request is answered 400.
	Extensions func(offers []Extension) ([]Extension, error)
	// Header holds extra response header fields. It must not hold the
	// handshake's own (Upgrade, Connection, Sec-WebSocket-*).
	Header http.Header
	// Timeout bounds UpgradeConn's reading of the request and writing of the
	// response, against clients that send slowly. Default DefaultTimeout.
	Timeout time.Duration
	// MaxHeaderBytes bounds the request line and header fields UpgradeConn
	// reads; a larger request is answered 431. Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// Result is what a handshake agreed.
type Result struct {
	Subprotocol string
	// Extensions are those the server accepted, as the response lists them.
	Extensions []Extension
	// Buffered holds the bytes read past the handshake: the peer's first
	// frames, to be read before the connection.
	Buffered []byte
	// Request is the client's request (server side). UpgradeConn fills
	// Method, URL, Proto, Host, Header, RequestURI, RemoteAddr and TLS.
	Request *http.Request
}

// Upgrade answers a WebSocket upgrade request through net/http, and returns
// the hijacked connection, which the caller then owns (and closes). The
// request is checked entirely before the connection is hijacked; on failure
// Upgrade has answered it with the status of the returned *Error.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (net.Conn, Result, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	res, resp, herr := check(r, opts, nil)
	if herr != nil {
		for _, f := range errorFields(herr) {
			w.Header().Set(f[0], f[1])
		}
		http.Error(w, herr.Reason, herr.Status)
		return nil, Result{}, herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		herr := failCause(http.StatusInternalServerError, ErrHijack, err)
		http.Error(w, herr.Reason, herr.Status)
		return nil, Result{}, herr
	}
	// net/http's deadlines were for the request; the connection is the
	// caller's now.
	nc.SetDeadline(time.Time{})
	if n := brw.Reader.Buffered(); n > 0 {
		p, _ := brw.Reader.Peek(n)
		res.Buffered = bytes.Clone(p)
	}
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		return nil, Result{}, fmt.Errorf("websocket handshake: writing response: %w", err)
	}
	return nc, res, nil
}

// UpgradeConn reads a WebSocket upgrade request from nc itself, within
// MaxHeaderBytes and Timeout, and answers it. On success it clears nc's
// deadlines. On failure it has answered with the status of the returned
// *Error where there was a request to answer (not after a read error or a
// timeout); the caller closes nc either way.
func UpgradeConn(nc net.Conn, opts *ServerOptions) (Result, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	r, rest, spare, err := readRequest(nc, opts.MaxHeaderBytes)
	if err != nil {
		var herr *Error
		if errors.As(err, &herr) {
			nc.Write(errorResponse(herr))
		}
		return Result{}, err
	}
	r.RemoteAddr = addrString(nc.RemoteAddr())
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		r.TLS = &st
	}
	res, resp, herr := check(r, opts, spare)
	if herr != nil {
		nc.Write(errorResponse(herr))
		return Result{}, herr
	}
	if _, err := nc.Write(resp); err != nil {
		return Result{}, fmt.Errorf("websocket handshake: writing response: %w", err)
	}
	nc.SetDeadline(time.Time{})
	res.Buffered = rest
	return res, nil
}

// addrString is a.String() in one allocation for the TCP addresses
// UpgradeConn meets (net.TCPAddr's takes two).
func addrString(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.Zone == "" {
		var b [len("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")]byte
		return string(ta.AddrPort().AppendTo(b[:0]))
	}
	return a.String()
}

// parsed holds a request and what it points to, so that they take one
// allocation: the head is read into buf, and its header values are
// strings into buf; vals holds those of a request of up to len(vals)
// fields (browsers send a dozen).
type parsed struct {
	req  http.Request
	url  url.URL
	vals [16]string
	buf  [firstRead]byte
}

// readRequest reads and parses a request head from r, at most limit bytes
// of it, and returns the request, the bytes read past it and spare
// capacity of the read buffer, for the answer.
func readRequest(r io.Reader, limit int) (*http.Request, []byte, []byte, error) {
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	p := new(parsed)
	head, lines, rest, spare, err := readHead(r, limit, p.buf[:0])
	switch err {
	case nil:
	case errTooLarge:
		return nil, nil, nil, fail(http.StatusRequestHeaderFieldsTooLarge, ErrHeaderTooLarge, "")
	case errBareLF:
		return nil, nil, nil, fail(http.StatusBadRequest, ErrMalformed, err.Error())
	default:
		return nil, nil, nil, fmt.Errorf("websocket handshake: reading request: %w", err)
	}
	line, fields := cutLine(head)
	method, line, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(line, " ")
	major, minor, ok3 := parseVersion(version)
	if !ok1 || !ok2 || !ok3 || !isToken(method) || !validTarget(target) {
		return nil, nil, nil, fail(http.StatusBadRequest, ErrMalformed, "request line")
	}
	if major != 1 || minor != 1 {
		// HTTP/1.0 cannot upgrade, and no other version has this request
		// line: the message is 1.1's or none.
		return nil, nil, nil, fail(http.StatusHTTPVersionNotSupported, ErrHTTPVersion, version)
	}
	if !parseOriginForm(target, &p.url) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, nil, nil, fail(http.StatusBadRequest, ErrMalformed, "request target")
		}
		p.url = *u
	}
	h, err := parseFields(fields, lines-1, p.vals[:])
	if err != nil {
		return nil, nil, nil, fail(http.StatusBadRequest, ErrMalformed, err.Error())
	}
	req := &p.req
	*req = http.Request{
		Method:     method,
		URL:        &p.url,
		Proto:      version,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     h,
		Body:       http.NoBody,
		RequestURI: target,
	}
	// Like net/http: the Host field moves out of Header, and an
	// absolute-form target overrides it (RFC 9112 section 3.2.2).
	switch hosts := h["Host"]; {
	case len(hosts) > 1:
		return nil, nil, nil, fail(http.StatusBadRequest, ErrHost, "several Host fields")
	case p.url.Host != "":
		req.Host = p.url.Host
	case len(hosts) == 1:
		req.Host = hosts[0]
	}
	delete(h, "Host")
	return req, rest, spare, nil
}

// parseOriginForm parses the common request target, an absolute path with
// an optional query and nothing to unescape, into u as url.ParseRequestURI
// would, without allocating. It reports false for any other target, which
// url.ParseRequestURI then parses (or refuses).
func parseOriginForm(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' || strings.HasPrefix(path, "//") || strings.IndexByte(target, '#') >= 0 {
		return false
	}
	for i := 0; i < len(path); i++ {
		if !pathChar[path[i]] {
			return false // to unescape, or to keep as RawPath
		}
	}
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return true
}

// pathChar marks the bytes net/url keeps as they are in a path: a path of
// them has no RawPath.
var pathChar = func() (t [256]bool) {
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// hasBody reports whether an HTTP/1 request declares a body. The bytes after
// an upgrade request's head must be frames: read as a body by an
// intermediary and as frames by us, they would smuggle messages past it.
func hasBody(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return true // net/http parsed the framing
	}
	cl, hasCL := r.Header["Content-Length"]
	_, hasTE := r.Header["Transfer-Encoding"]
	return hasTE || hasCL && (len(cl) != 1 || cl[0] != "0")
}

// validTarget reports whether t can be a request-target: visible ASCII.
func validTarget(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h holds only the bytes a URI authority can.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !tchar[c] && !strings.ContainsRune("[]:@()!,;=", rune(c)) {
			return false
		}
	}
	return true
}

// check applies the rules of RFC 6455 section 4.2.1 to r and, if it passes,
// returns the agreement and the 101 response to send.
func check(r *http.Request, opts *ServerOptions, dst []byte) (Result, []byte, *Error) {
	h := r.Header
	switch {
	case r.ProtoMajor == 2:
		return Result{}, nil, fail(http.StatusBadRequest, ErrExtendedConnect, "")
	case r.Method != http.MethodGet:
		return Result{}, nil, fail(http.StatusMethodNotAllowed, ErrMethod, r.Method)
	case !r.ProtoAtLeast(1, 1):
		return Result{}, nil, fail(http.StatusHTTPVersionNotSupported, ErrHTTPVersion, r.Proto)
	case hasBody(r):
		return Result{}, nil, fail(http.StatusBadRequest, ErrBody, "")
	case !validHost(r.Host):
		return Result{}, nil, fail(http.StatusBadRequest, ErrHost, "")
	// Without Upgrade, the client may not know this is a WebSocket
	// endpoint: 426 tells it. An Upgrade naming something else is a
	// request we refuse.
	case len(h["Upgrade"]) == 0:
		return Result{}, nil, fail(http.StatusUpgradeRequired, ErrUpgrade, "")
	case !hasToken(h, "Upgrade", "websocket"):
		return Result{}, nil, fail(http.StatusBadRequest, ErrUpgrade, "")
	case !hasToken(h, "Connection", "upgrade"):
		return Result{}, nil, fail(http.StatusBadRequest, ErrConnection, "")
	}
	if v := h["Sec-Websocket-Version"]; len(v) != 1 || v[0] != "13" {
		return Result{}, nil, fail(http.StatusUpgradeRequired, ErrVersion, "")
	}
	keys := h["Sec-Websocket-Key"]
	if len(keys) != 1 || !validKey(keys[0]) {
		return Result{}, nil, fail(http.StatusBadRequest, ErrKey, "")
	}
	res, herr := negotiate(r, opts)
	if herr != nil {
		return Result{}, nil, herr
	}

	b := dst[:0]
	if cap(b) < 256 {
		b = make([]byte, 0, 256)
	}
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = appendAccept(b, keys[0])
	b = append(b, "\r\n"...)
	if res.Subprotocol != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, res.Subprotocol...)
		b = append(b, "\r\n"...)
	}
	if len(res.Extensions) > 0 {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = AppendExtensions(b, res.Extensions)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, opts.Header, "")
	b = append(b, "\r\n"...)
	return res, b, nil
}

// negotiate applies what both versions of HTTP share: the origin policy,
// and the choice of subprotocol and extensions.
func negotiate(r *http.Request, opts *ServerOptions) (Result, *Error) {
	h := r.Header
	if err := checkOrigin(r, opts); err != nil {
		return Result{}, err
	}
	protos, err := ParseProtocols(h["Sec-Websocket-Protocol"])
	if err != nil {
		return Result{}, failCause(http.StatusBadRequest, ErrProtocols, err)
	}
	// Offers nobody will look at are only checked.
	offers, err := parseExtensions(h["Sec-Websocket-Extensions"], opts.Extensions != nil)
	if err != nil {
		return Result{}, failCause(http.StatusBadRequest, ErrExtensions, err)
	}
	if err := checkHeader(opts.Header); err != nil {
		err.Status = http.StatusInternalServerError
		return Result{}, err
	}
	res := Result{Request: r}
	res.Subprotocol = choose(opts.Subprotocols, protos)
	if opts.Extensions != nil && len(offers) > 0 {
		if res.Extensions, err = opts.Extensions(offers); err != nil {
			return Result{}, failCause(http.StatusBadRequest, ErrExtensions, err)
		}
		// Writing what ParseExtensions would refuse is our bug, not the
		// client's.
		if err := checkExtensions(res.Extensions); err != nil {
			return Result{}, failCause(http.StatusInternalServerError, ErrExtensions, err)
		}
	}
	return res, nil
}

// choose returns the first of ours that the client offered.
func choose(ours, offered []string) string {
	for _, p := range ours {
		for _, o := range offered {
			if o == p {
				return p
			}
		}
	}
	return ""
}

// checkOrigin applies the origin policy of opts.
func checkOrigin(r *http.Request, opts *ServerOptions) *Error {
	if opts.CheckOrigin != nil {
		if !opts.CheckOrigin(r) {
			return fail(http.StatusForbidden, ErrOrigin, "CheckOrigin refused "+strconv.Quote(r.Header.Get("Origin")))
		}
		return nil
	}
	p := OriginPolicy{Patterns: opts.OriginPatterns, TrustedProxies: opts.TrustedProxies}
	if why := p.refusal(r); why != "" {
		return fail(http.StatusForbidden, ErrOrigin, why)
	}
	return nil
}

var (
	allowGET      = [][2]string{{"Allow", "GET"}}
	version13     = [][2]string{{"Sec-WebSocket-Version", "13"}}
	upgradeNeeded = [][2]string{{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}
)

// errorFields returns the header fields an error response must carry.
func errorFields(e *Error) [][2]string {
	switch {
	case e.rule == ErrMethod:
		return allowGET
	case e.rule == ErrVersion:
		return version13
	case e.Status == http.StatusUpgradeRequired:
		return upgradeNeeded
	}
	return nil
}

// errorResponse is the response to a failed upgrade on a raw connection,
// which is closed after it.
func errorResponse(e *Error) []byte {
	body := e.Reason + "\n"
	b := make([]byte, 0, 160+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(e.Status)...)
	b = append(b, "\r\n"...)
	for _, f := range errorFields(e) {
		b = append(b, f[0]+": "+f[1]+"\r\n"...)
	}
	b = append(b, "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}
