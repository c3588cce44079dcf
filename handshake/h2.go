package handshake

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// IsHTTP2 reports whether r opens a WebSocket over HTTP/2 (RFC 8441): an
// extended CONNECT whose :protocol is websocket. Go's HTTP/2 server lets
// one through only when the process runs with GODEBUG=http2xconnect=1; it
// then advertises SETTINGS_ENABLE_CONNECT_PROTOCOL.
func IsHTTP2(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect && r.Header.Get(":protocol") == "websocket"
}

// UpgradeHTTP2 answers an RFC 8441 request on net/http's HTTP/2 server: it
// applies the origin policy and chooses the subprotocol and extensions as
// Upgrade does (HTTP/2 has no Sec-WebSocket-Key), then sends 200 and
// flushes it. The stream is then the WebSocket: the request's body is what
// the client sends, and what the handler writes (and flushes) goes to it,
// until the handler returns. On failure it has answered with the status of
// the returned *Error.
func UpgradeHTTP2(w http.ResponseWriter, r *http.Request, opts *ServerOptions) (Result, error) {
	if opts == nil {
		opts = &ServerOptions{}
	}
	res, herr := checkHTTP2(r, opts)
	if herr != nil {
		for _, f := range errorFields(herr) {
			w.Header().Set(f[0], f[1])
		}
		http.Error(w, herr.Reason, herr.Status)
		return Result{}, herr
	}
	h := w.Header()
	if res.Subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", res.Subprotocol)
	}
	if len(res.Extensions) > 0 {
		h.Set("Sec-WebSocket-Extensions", string(AppendExtensions(nil, res.Extensions)))
	}
	for k, v := range opts.Header {
		h[k] = v
	}
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return Result{}, fmt.Errorf("websocket handshake: sending the response: %w", err)
	}
	return res, nil
}

// checkHTTP2 applies RFC 8441 section 5 to r.
func checkHTTP2(r *http.Request, opts *ServerOptions) (Result, *Error) {
	if !IsHTTP2(r) {
		return Result{}, fail(http.StatusBadRequest, ErrExtendedConnect, "")
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || v[0] != "13" {
		return Result{}, fail(http.StatusBadRequest, ErrVersion, "")
	}
	return negotiate(r, opts)
}

// NewHTTP2Request returns the extended CONNECT (RFC 8441) that opens a
// WebSocket at rawURL (ws:// or wss://, sent as http:// or https://) over
// an HTTP/2 connection, for a RoundTripper that can send it (such as
// golang.org/x/net/http2's Transport); body is what the client sends on the
// stream. opts' Subprotocols, Extensions and Header are offered as Dial
// offers them.
func NewHTTP2Request(ctx context.Context, rawURL string, body io.Reader, opts *DialOptions) (*http.Request, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	for _, p := range opts.Subprotocols {
		if !isToken(p) {
			return nil, fail(0, ErrProtocols, "offer "+p)
		}
	}
	if err := checkExtensions(opts.Extensions); err != nil {
		return nil, failCause(0, ErrExtensions, err)
	}
	if err := checkHeader(opts.Header); err != nil {
		return nil, err
	}
	hu := *u
	hu.Scheme = "http"
	if u.Scheme == "wss" {
		hu.Scheme = "https"
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodConnect, hu.String(), body)
	if err != nil {
		return nil, fail(0, ErrURL, rawURL)
	}
	for k, v := range opts.Header {
		r.Header[k] = v
	}
	if h := opts.Header.Get("Host"); h != "" {
		r.Host = h
		r.Header.Del("Host")
	}
	r.Header.Set(":protocol", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		r.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if len(opts.Extensions) > 0 {
		r.Header.Set("Sec-WebSocket-Extensions", string(AppendExtensions(nil, opts.Extensions)))
	}
	return r, nil
}

// CheckHTTP2Response verifies the answer to NewHTTP2Request's request: 200,
// and a subprotocol and extensions among those offered.
func CheckHTTP2Response(resp *http.Response, opts *DialOptions) (Result, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, fail(resp.StatusCode, ErrStatus, "")
	}
	return agreement(resp.Header, opts)
}
