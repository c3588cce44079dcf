// Package handshake is the WebSocket opening handshake of RFC 6455 section
// 4, for both roles: a server upgrades an HTTP request (over net/http, or
// reading it itself from a raw net.Conn), a client dials and verifies the
// server's answer strictly. It negotiates subprotocols and parses the
// Sec-WebSocket-Extensions grammar; what an extension's parameters mean is
// left to the caller.
//
//	nc, res, err := handshake.Upgrade(w, r, &handshake.ServerOptions{Subprotocols: []string{"chat"}})
//	nc, res, err := handshake.Dial(ctx, "wss://example.com/ws", nil)
//
// Bytes the peer sent past the handshake (its first frames) are kept in
// Result.Buffered.
package handshake
