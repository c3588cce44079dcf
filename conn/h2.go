package conn

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pushwire/pushwire/handshake"
)

// h2Stream is an HTTP/2 stream that carries a WebSocket (RFC 8441), as a
// net.Conn: reads from the request's body, writes to the response, each
// flushed. net/http ends the stream when the handler returns, and a write
// after that panics: Close stops the writes, then lets the handler return
// (done); a write from a handler that returned early fails.
type h2Stream struct {
	ctx    context.Context // the request's: done once the handler returned
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote net.Addr

	// Held shared by writes and deadlines (a deadline must cut a write
	// short), and by Close alone.
	mu     sync.RWMutex
	closed bool
	done   chan struct{} // closed by Close: the handler may return
}

func newH2Stream(w http.ResponseWriter, r *http.Request) *h2Stream {
	s := &h2Stream{ctx: r.Context(), body: r.Body, w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	}
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		s.remote = a
	}
	return s
}

func (s *h2Stream) Read(p []byte) (int, error) { return s.body.Read(p) }

func (s *h2Stream) Write(p []byte) (n int, err error) {
	err = s.use(func() error {
		var err error
		if n, err = s.w.Write(p); err == nil {
			err = s.rc.Flush()
		}
		return err
	})
	return n, err
}

// use runs f on the response while it may be used: not after Close, nor
// once the handler returned. The request's context ends a moment after the
// handler returns; a call in between makes net/http panic (a deadline
// moved by a context that fired late, a handler that returned before its
// Conn closed), which fails the call rather than the process.
func (s *h2Stream) use(f func() error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.ctx.Err() != nil {
		return net.ErrClosed
	}
	defer func() {
		if recover() != nil {
			err = net.ErrClosed
		}
	}()
	return f()
}

func (s *h2Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	s.closed = true
	s.body.Close() // ends a read in progress
	close(s.done)
	return nil
}

func (s *h2Stream) LocalAddr() net.Addr  { return s.local }
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

func (s *h2Stream) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

func (s *h2Stream) SetReadDeadline(t time.Time) error {
	return s.use(func() error { return s.rc.SetReadDeadline(t) })
}

func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	return s.use(func() error { return s.rc.SetWriteDeadline(t) })
}

// acceptHTTP2 serves an RFC 8441 request: the stream becomes the Conn.
func acceptHTTP2(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	so, neg := serverOptions(opts)
	res, err := handshake.UpgradeHTTP2(w, r, so)
	if err != nil {
		return nil, err
	}
	c := newConn(newH2Stream(w, r), Server, nil, optionsOf(opts), neg.codec(true))
	c.subprotocol = res.Subprotocol
	return c, nil
}

// dialHTTP2 opens a WebSocket with an extended CONNECT through rt. The
// stream's two halves (the response's body, the request's) have no
// deadlines, which the Conn needs for its timeouts and contexts: they are
// pumped through a net.Pipe, whose end the Conn gets.
func dialHTTP2(ctx context.Context, url string, rt http.RoundTripper, do *handshake.DialOptions, o *Options, neg *negotiation) (*Conn, error) {
	pr, pw := io.Pipe()
	req, err := handshake.NewHTTP2Request(context.WithoutCancel(ctx), url, pr, do)
	if err != nil {
		return nil, err
	}
	// ctx bounds the opening only, not the stream as a request's context
	// would.
	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := rt.RoundTrip(req)
		answered <- answer{resp, err}
	}()
	var a answer
	select {
	case a = <-answered:
	case <-ctx.Done():
		pw.CloseWithError(ctx.Err())
		go func() {
			if a := <-answered; a.resp != nil {
				a.resp.Body.Close()
			}
		}()
		return nil, fmt.Errorf("websocket handshake: %w", context.Cause(ctx))
	}
	if a.err != nil {
		pw.Close()
		return nil, a.err
	}
	res, err := handshake.CheckHTTP2Response(a.resp, do)
	if err != nil {
		pw.Close()
		a.resp.Body.Close()
		return nil, err
	}
	ours, theirs := net.Pipe()
	go func() {
		io.Copy(theirs, a.resp.Body)
		theirs.Close()
		a.resp.Body.Close()
	}()
	go func() {
		io.Copy(pw, theirs)
		pw.Close()
		a.resp.Body.Close()
	}()
	c := newConn(ours, Client, nil, o, neg.codec(false))
	c.subprotocol = res.Subprotocol
	return c, nil
}
