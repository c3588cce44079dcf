// Package handshake is the WebSocket opening handshake of RFC 6455 section
// 4, for both roles. A server upgrades a request through net/http (Upgrade)
// or reads it itself from a raw net.Conn (UpgradeConn, the fast path); a
// client dials (Dial) or runs over a connection it has (Client), and checks
// the server's answer strictly. The package negotiates subprotocols, parses
// and writes the Sec-WebSocket-Extensions grammar, and applies an origin
// policy; what an extension's parameters mean is left to the caller.
//
//	nc, res, err := handshake.Upgrade(w, r, &handshake.ServerOptions{Subprotocols: []string{"chat"}})
//
//	nc, res, err := handshake.Dial(ctx, "wss://example.com/ws", nil)
//
// Bytes the peer sent past the handshake, its first frames, are returned in
// Result.Buffered and must be read before the connection. A request that
// breaks a rule is answered with the status of the returned *Error, whose
// sentinel (ErrKey, ErrOrigin...) errors.Is recognises.
package handshake
