// Package conn is a WebSocket connection (RFC 6455), for both roles: whole
// messages read into and written from the caller's buffers, streamed
// messages, control frames, the close handshake, limits, deadlines and
// contexts, and permessage-deflate (RFC 7692) when negotiated.
//
// A server upgrades with Accept (net/http) or AcceptConn (a raw net.Conn); a
// client opens with Dial:
//
//	c, err := conn.Accept(w, r, nil)
//	...
//	typ, msg, err := c.ReadMessage(ctx, buf)
//	err = c.WriteMessage(ctx, typ, msg)
//	err = c.Close(conn.CloseNormal, "bye")
//
// Any number of goroutines may write at once; one reads. Every broken rule of
// the protocol fails the connection with its close code (1002 for framing,
// 1007 for invalid UTF-8, 1009 for a message over the read limit), reported
// to the reader as a *CloseError.
package conn
