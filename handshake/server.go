package handshake

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of ServerOptions and DialOptions.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxHeaderBytes = 8 << 10
)

// ServerOptions configure the server side of the handshake.
type ServerOptions struct {
	// Subprotocols are the supported subprotocols in order of preference: the
	// first of them that the client offered is chosen.
	Subprotocols []string
	// By default a request with an Origin header is accepted only if the
	// origin's host equals the Host header (same origin); a request with none
	// (a client that is not a browser) is accepted. OriginPatterns allows
	// more origin hosts, as path.Match patterns such as "*.example.com".
	OriginPatterns []string
	// CheckOrigin, if set, replaces the policy above.
	CheckOrigin func(r *http.Request) bool
	// Extensions receives the client's offers in order and returns those to
	// accept. nil declines all. An error answers 400.
	Extensions func(offers []Extension) ([]Extension, error)
	// Header holds extra response headers.
	Header http.Header
	// Timeout bounds UpgradeConn's reading of the request and writing of the
	// response. Default 10 s.
	Timeout time.Duration
	// MaxHeaderBytes bounds the request line and headers UpgradeConn reads;
	// a larger request is answered 431. Default 8 KiB.
	MaxHeaderBytes int
}

// Result is what a handshake agreed.
type Result struct {
	Subprotocol string
	Extensions  []Extension // accepted by the server
	// Buffered holds bytes read past the handshake: the peer's first frames.
	Buffered []byte
	// Request is the client's request (server side).
	Request *http.Request
}

// Upgrade answers a WebSocket upgrade request through net/http and returns
// the hijacked connection. On failure it has answered the request with the
// error's status.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (net.Conn, Result, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	res, resp, herr := check(r, opts)
	if herr != nil {
		for k, v := range herr.headers() {
			w.Header().Set(k, v)
		}
		http.Error(w, herr.Reason, herr.Status)
		return nil, Result{}, herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: cannot hijack the connection", http.StatusInternalServerError)
		return nil, Result{}, err
	}
	// net/http set deadlines for reading the request; the connection is ours now.
	nc.SetDeadline(time.Time{})
	if n := brw.Reader.Buffered(); n > 0 {
		res.Buffered, _ = brw.Reader.Peek(n)
		res.Buffered = bytes.Clone(res.Buffered)
	}
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		return nil, Result{}, err
	}
	return nc, res, nil
}

// UpgradeConn reads a WebSocket upgrade request from nc and answers it. On
// failure it has answered with the error's status where it could; the
// caller closes nc.
func UpgradeConn(nc net.Conn, opts *ServerOptions) (Result, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	r, rest, err := readRequest(nc, opts.MaxHeaderBytes)
	if err != nil {
		if herr, ok := err.(*Error); ok {
			nc.Write(errorResponse(herr))
		}
		return Result{}, err
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	res, resp, herr := check(r, opts)
	if herr != nil {
		nc.Write(errorResponse(herr))
		return Result{}, herr
	}
	if _, err := nc.Write(resp); err != nil {
		return Result{}, err
	}
	nc.SetDeadline(time.Time{})
	res.Buffered = rest
	return res, nil
}

// readRequest reads one request head from nc, at most limit bytes, and
// returns the request and the bytes read past it.
func readRequest(nc net.Conn, limit int) (*http.Request, []byte, error) {
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	head, rest, err := readHead(nc, limit)
	if err != nil {
		if err == errHeadTooLarge {
			return nil, nil, fail(http.StatusRequestHeaderFieldsTooLarge, ErrHeaderTooLarge, "")
		}
		return nil, nil, err
	}
	r, err := http.ReadRequest(bufio.NewReaderSize(bytes.NewReader(head), len(head)))
	if err != nil {
		return nil, nil, fail(http.StatusBadRequest, ErrMalformed, err.Error())
	}
	return r, rest, nil
}

// readHead reads up to the blank line that ends an HTTP head, returning the
// head and the bytes after it. It reads at most limit bytes of head and
// scans each byte once, however the head is split across reads.
func readHead(nc net.Conn, limit int) (head, rest []byte, err error) {
	buf := make([]byte, 0, min(limit+4, 1024))
	scanned := 0
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit+4 {
				return nil, nil, errHeadTooLarge
			}
			buf = append(buf, make([]byte, min(cap(buf), limit+4-len(buf)))...)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf[max(scanned-3, 0):], []byte("\r\n\r\n")); i >= 0 {
			end := max(scanned-3, 0) + i + 4
			if end > limit+4 {
				return nil, nil, errHeadTooLarge
			}
			return buf[:end], bytes.Clone(buf[end:]), nil
		}
		scanned = len(buf)
		if err != nil {
			return nil, nil, err
		}
		if len(buf) > limit+4 {
			return nil, nil, errHeadTooLarge
		}
	}
}

type headError struct{}

func (headError) Error() string { return "head too large" }

var errHeadTooLarge error = headError{}

// check applies the rules of RFC 6455 section 4.2.1 to r and, if it passes,
// returns the agreement and the 101 response to send.
func check(r *http.Request, opts *ServerOptions) (Result, []byte, *Error) {
	h := r.Header
	switch {
	case r.Method != http.MethodGet:
		return Result{}, nil, fail(http.StatusMethodNotAllowed, ErrMethod, r.Method)
	case !r.ProtoAtLeast(1, 1):
		return Result{}, nil, fail(http.StatusHTTPVersionNotSupported, ErrHTTPVersion, r.Proto)
	case r.Host == "":
		return Result{}, nil, fail(http.StatusBadRequest, ErrHost, "")
	case !hasToken(h, "Upgrade", "websocket"):
		return Result{}, nil, fail(http.StatusUpgradeRequired, ErrUpgrade, "")
	case !hasToken(h, "Connection", "upgrade"):
		return Result{}, nil, fail(http.StatusBadRequest, ErrConnection, "")
	}
	if v := h["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return Result{}, nil, fail(http.StatusUpgradeRequired, ErrVersion, "")
	}
	keys := h["Sec-Websocket-Key"]
	if len(keys) != 1 || !validKey(strings.TrimSpace(keys[0])) {
		return Result{}, nil, fail(http.StatusBadRequest, ErrKey, "")
	}
	if !originAllowed(r, opts) {
		return Result{}, nil, fail(http.StatusForbidden, ErrOrigin, h.Get("Origin"))
	}
	protos, err := ParseProtocols(h["Sec-Websocket-Protocol"])
	if err != nil {
		return Result{}, nil, fail(http.StatusBadRequest, ErrProtocols, "")
	}
	offers, err := ParseExtensions(h["Sec-Websocket-Extensions"])
	if err != nil {
		return Result{}, nil, fail(http.StatusBadRequest, ErrExtensions, "")
	}
	res := Result{Request: r}
	for _, p := range opts.Subprotocols {
		if slices.Contains(protos, p) {
			res.Subprotocol = p
			break
		}
	}
	if opts.Extensions != nil && len(offers) > 0 {
		if res.Extensions, err = opts.Extensions(offers); err != nil {
			return Result{}, nil, fail(http.StatusBadRequest, ErrExtensions, err.Error())
		}
	}

	b := make([]byte, 0, 256)
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, AcceptKey(strings.TrimSpace(keys[0]))...)
	if res.Subprotocol != "" {
		b = append(b, "\r\nSec-WebSocket-Protocol: "...)
		b = append(b, res.Subprotocol...)
	}
	if len(res.Extensions) > 0 {
		b = append(b, "\r\nSec-WebSocket-Extensions: "...)
		b = AppendExtensions(b, res.Extensions)
	}
	b = append(b, "\r\n"...)
	b = appendHeader(b, opts.Header)
	b = append(b, "\r\n"...)
	return res, b, nil
}

func appendHeader(b []byte, h http.Header) []byte {
	for k, vs := range h {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// originAllowed applies the origin policy. Browsers always send Origin, so a
// request without one does not come from a page that could ride on the
// user's cookies.
func originAllowed(r *http.Request, opts *ServerOptions) bool {
	if opts.CheckOrigin != nil {
		return opts.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host := strings.ToLower(u.Host)
	for _, p := range opts.OriginPatterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}

// headers returns the headers an error response must carry.
func (e *Error) headers() map[string]string {
	switch e.err {
	case ErrVersion:
		return map[string]string{"Sec-WebSocket-Version": "13"}
	case ErrUpgrade:
		return map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}
	case ErrMethod:
		return map[string]string{"Allow": "GET"}
	}
	return nil
}

// errorResponse is the HTTP response for a failed upgrade on a raw conn.
func errorResponse(e *Error) []byte {
	body := e.Reason + "\n"
	b := []byte("HTTP/1.1 " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + "\r\n")
	for k, v := range e.headers() {
		b = append(b, k+": "+v+"\r\n"...)
	}
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}
