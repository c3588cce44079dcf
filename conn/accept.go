package conn

import (
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/handshake"
)

// AcceptOptions configure the server side of the opening handshake and the
// connection it makes.
type AcceptOptions struct {
	Options
	// Subprotocols are the subprotocols supported, in order of preference.
	Subprotocols []string
	// OriginPatterns are origin hosts allowed besides the request's own
	// (path.Match patterns such as "*.example.com"). By default a browser's
	// request from another origin is refused with 403.
	OriginPatterns []string
	// TrustedProxies are reverse proxies whose forwarding headers name the
	// host the client asked for, in place of Host (handshake.OriginPolicy).
	TrustedProxies []netip.Prefix
	// CheckOrigin, if set, replaces the origin policy.
	CheckOrigin func(r *http.Request) bool
	// Header holds extra response headers.
	Header http.Header
	// Compression enables permessage-deflate when the client offers it.
	Compression *deflate.Config
	// HandshakeTimeout and MaxHeaderBytes bound AcceptConn's reading of the
	// request.
	HandshakeTimeout time.Duration
	MaxHeaderBytes   int
}

// Accept upgrades an HTTP request to a WebSocket connection. On failure it
// has answered the request with the right status, and returns the error.
//
// Over HTTP/2 it serves an extended CONNECT (RFC 8441), which Go's server
// lets through when the process runs with GODEBUG=http2xconnect=1 (a plain
// HTTP/2 request is refused with handshake.ErrExtendedConnect, which says
// so). The Conn is then the handler's stream, which ends when the handler
// returns: read it in the handler, or use Handler, which waits. Unlike a
// hijacked connection, such a stream holds up net/http's Server.Shutdown
// until it ends: close it from a function registered with
// Server.RegisterOnShutdown.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if r.ProtoMajor == 2 {
		return acceptHTTP2(w, r, opts)
	}
	so, neg := serverOptions(opts)
	nc, res, err := handshake.Upgrade(w, r, so)
	if err != nil {
		return nil, err
	}
	c := newConn(nc, Server, res.Buffered, optionsOf(opts), neg.codec(true))
	c.subprotocol = res.Subprotocol
	return c, nil
}

// AcceptConn runs the server side of the opening handshake on a raw
// connection, reading the request itself. On failure the caller closes nc.
func AcceptConn(nc net.Conn, opts *AcceptOptions) (*Conn, error) {
	// The work runs on a goroutine of its own: the stack that parsing,
	// hashing and setting up grow is then not kept by the caller's, which
	// typically reads this connection for its whole life and so can stay at
	// the smallest stack.
	type result struct {
		c   *Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := acceptConn(nc, opts)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

func acceptConn(nc net.Conn, opts *AcceptOptions) (*Conn, error) {
	so, neg := serverOptions(opts)
	res, err := handshake.UpgradeConn(nc, so)
	if err != nil {
		return nil, err
	}
	c := newConn(nc, Server, res.Buffered, optionsOf(opts), neg.codec(true))
	c.subprotocol = res.Subprotocol
	return c, nil
}

func optionsOf(opts *AcceptOptions) *Options {
	if opts == nil {
		return nil
	}
	return &opts.Options
}

func serverOptions(opts *AcceptOptions) (*handshake.ServerOptions, *negotiation) {
	neg := &negotiation{}
	so := &handshake.ServerOptions{}
	if opts != nil {
		neg.cfg = opts.Compression
		so.Subprotocols = opts.Subprotocols
		so.OriginPatterns = opts.OriginPatterns
		so.TrustedProxies = opts.TrustedProxies
		so.CheckOrigin = opts.CheckOrigin
		so.Header = opts.Header
		so.Timeout = opts.HandshakeTimeout
		so.MaxHeaderBytes = opts.MaxHeaderBytes
	}
	if neg.cfg != nil {
		so.Extensions = neg.accept
	}
	return so, neg
}

// Handler is an http.Handler that upgrades each request with Accept and
// runs Serve for the connection on a goroutine of its own, returning from
// ServeHTTP at once. net/http then drops what it keeps for a request (its
// buffered reader and writer, the request's state, and the handler
// goroutine's stack, grown while parsing the request): a handler that reads
// the connection in place keeps all that for the connection's life, about
// 16 KiB of an idle connection's 20 (bench/RESULTS.md, IdleConnMemory).
//
// r's context is done once Serve starts: bound Serve's calls with contexts
// of its own. A request that does not upgrade was answered by Accept.
type Handler struct {
	Options *AcceptOptions
	Serve   func(c *Conn, r *http.Request)
	// OnRefuse, if set, is told why a request was refused (Accept's error:
	// errors.Is tells handshake.ErrOrigin and the others): the client
	// sees only a status.
	OnRefuse func(r *http.Request, err error)
}

// ServeHTTP upgrades the request and starts Serve. Over HTTP/2 it returns
// once the connection is closed, since its stream ends then.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := Accept(w, r, h.Options)
	if err != nil {
		if h.OnRefuse != nil {
			h.OnRefuse(r, err)
		}
		return
	}
	go h.Serve(c, r)
	if s, ok := c.nc.(*h2Stream); ok {
		<-s.done
	}
}
