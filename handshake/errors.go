package handshake

import (
	"errors"
	"net/http"
	"strconv"
)

// Error is a failed handshake. On the server, Status is the HTTP status the
// request was answered with; on the client, the status the server answered
// (0 when the failure is not about the status).
type Error struct {
	Status int
	Reason string
	err    error // the sentinel, for errors.Is
}

func (e *Error) Error() string {
	s := "websocket handshake: " + e.Reason
	if e.Status != 0 {
		s += " (" + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.err }

// Sentinels for the rules a request or a response breaks; test with errors.Is.
var (
	// Server side.
	ErrMethod         = errors.New("method is not GET")
	ErrHTTPVersion    = errors.New("HTTP version below 1.1")
	ErrHost           = errors.New("missing Host")
	ErrUpgrade        = errors.New("Upgrade does not name websocket")
	ErrConnection     = errors.New("Connection does not name upgrade")
	ErrKey            = errors.New("Sec-WebSocket-Key is not base64 of 16 bytes")
	ErrVersion        = errors.New("Sec-WebSocket-Version is not 13")
	ErrOrigin         = errors.New("origin not allowed")
	ErrHeaderTooLarge = errors.New("request header too large")
	ErrExtensions     = errors.New("malformed Sec-WebSocket-Extensions")
	ErrProtocols      = errors.New("malformed Sec-WebSocket-Protocol")
	ErrMalformed      = errors.New("malformed HTTP message")

	// Client side.
	ErrStatus              = errors.New("status is not 101")
	ErrAccept              = errors.New("Sec-WebSocket-Accept does not match the key")
	ErrUpgradeResponse     = errors.New("response Upgrade does not name websocket")
	ErrConnectionResponse  = errors.New("response Connection does not name upgrade")
	ErrProtocolNotOffered  = errors.New("server chose a subprotocol not offered")
	ErrExtensionNotOffered = errors.New("server accepted an extension not offered")
	ErrURL                 = errors.New("URL is not ws:// or wss://")
)

func fail(status int, sentinel error, detail string) *Error {
	r := sentinel.Error()
	if detail != "" {
		r += ": " + detail
	}
	return &Error{Status: status, Reason: r, err: sentinel}
}
