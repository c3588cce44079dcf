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
//
// # How a message flows
//
// The files, in the order a message meets them:
//
//   - accept.go, dial.go: the opening handshake (package handshake) makes a
//     Conn (conn.go: the struct, its reader and writer state and the lock
//     guarding each; options.go: its Options).
//   - socket_unix.go: the socket reader, which reads through the raw socket
//     and gives the buffers (buffers.go) back to their pools while the
//     connection is idle.
//   - read.go: ReadMessage, from the bytes read to a whole message: the
//     one-frame fast path, then frame by frame (frames.go: headers,
//     buffered bytes and payload), with control frames (control.go)
//     answered on the way; compress.go inflates.
//   - reader.go: NextReader, the same path as a stream.
//   - write.go: WriteMessage and the frame lock every writer takes;
//     compress.go deflates; coalesce.go holds frames for one system call
//     with CoalesceWrites; socket_write.go writes through the raw socket,
//     so that a write's context is watched only if the write must wait.
//   - writer.go: NextWriter, a message written as fragments; prepared.go:
//     a message framed (and compressed) once for many connections.
//   - control.go: pings, pongs and the keepalive; close.go: the close
//     handshake, how a connection ends and the errors that say so.
//   - context.go: contexts and deadlines on both paths.
package conn
