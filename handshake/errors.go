package handshake

import (
	"errors"
	"net/http"
	"strconv"
)

// Error is a handshake that broke a rule of RFC 6455 or of HTTP. On the
// server, Status is the HTTP status the request was answered with; on the
// client, it is the status the server answered when that status was the
// problem (ErrStatus), else 0.
//
// An Error unwraps to the sentinel of the broken rule, and to the cause when
// there is one (such as the error returned by a callback).
type Error struct {
	Status int
	Reason string
	rule   error
	cause  error
}

// Error returns the refusal's reason and status.
func (e *Error) Error() string {
	s := "websocket handshake: " + e.Reason
	if e.Status != 0 {
		s += " (" + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ")"
	}
	return s
}

// Unwrap returns the broken rule (one of the Err variables) and the cause,
// if any.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.rule, e.cause}
	}
	return []error{e.rule}
}

// The rules a request, a response or the options can break; test with
// errors.Is. The status a server answers with is given for each.
var (
	// Server side.
	ErrMethod         = errors.New("method is not GET")                             // 405, with Allow: GET
	ErrHTTPVersion    = errors.New("HTTP version is not 1.1")                       // 505
	ErrBody           = errors.New("upgrade request has a body")                    // 400
	ErrHost           = errors.New("no single valid Host header")                   // 400
	ErrUpgrade        = errors.New("Upgrade does not name websocket")               // 426 if absent, else 400
	ErrConnection     = errors.New("header Connection does not name upgrade")       // 400
	ErrVersion        = errors.New("Sec-WebSocket-Version is not 13")               // 426, with Sec-WebSocket-Version: 13
	ErrKey            = errors.New("Sec-WebSocket-Key is not base64 of 16 bytes")   // 400
	ErrOrigin         = errors.New("origin not allowed")                            // 403
	ErrProtocols      = errors.New("malformed Sec-WebSocket-Protocol")              // 400
	ErrExtensions     = errors.New("malformed or refused Sec-WebSocket-Extensions") // 400
	ErrMalformed      = errors.New("malformed HTTP message")                        // 400 (bad request line, header syntax, obs-fold)
	ErrHeaderTooLarge = errors.New("HTTP head larger than MaxHeaderBytes")          // 431
	ErrHijack         = errors.New("connection cannot be hijacked")                 // 500
	ErrHeader         = errors.New("invalid or reserved header in options")         // 500 on the server
	// An HTTP/2 request that is not an extended CONNECT for websocket
	// (RFC 8441): a client gets one only from a server that advertises it,
	// which Go's does when the process runs with GODEBUG=http2xconnect=1.
	ErrExtendedConnect = errors.New("over HTTP/2 a WebSocket opens with an extended CONNECT (RFC 8441): run the server with GODEBUG=http2xconnect=1") // 400

	// Client side (ErrExtensions, ErrMalformed, ErrHeaderTooLarge and
	// ErrHeader apply too).
	ErrURL                 = errors.New("URL is not ws:// or wss:// with a host and no fragment")
	ErrStatus              = errors.New("status is not 101 Switching Protocols (200 over HTTP/2)")
	ErrUpgradeResponse     = errors.New("response Upgrade does not name websocket")
	ErrConnectionResponse  = errors.New("response Connection does not name upgrade")
	ErrAccept              = errors.New("Sec-WebSocket-Accept does not match the key")
	ErrProtocolNotOffered  = errors.New("server chose a subprotocol not offered")
	ErrExtensionNotOffered = errors.New("server accepted an extension not offered")
	ErrExtensionCheck      = errors.New("CheckExtensions refused the accepted extensions")
	ErrProxy               = errors.New("proxy did not open a tunnel") // Status: an HTTP proxy's answer
)

func fail(status int, rule error, detail string) *Error {
	r := rule.Error()
	if detail != "" {
		r += ": " + detail
	}
	return &Error{Status: status, Reason: r, rule: rule}
}

func failCause(status int, rule, cause error) *Error {
	e := fail(status, rule, cause.Error())
	e.cause = cause
	return e
}
