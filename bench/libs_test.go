package bench

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"

	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/pushwire/pushwire/conn"
)

// readLimit is the message limit given to the libraries whose default is
// below our largest message (coder's is 32 KiB); it is pushwire's default.
const readLimit = 16 << 20

// lib is one library under test: its in-memory server, its TCP server, its
// own client, and the compression modes it offers.
type lib struct {
	name string
	// mem upgrades a connection over a fresh memConn with compression m and
	// returns it with the loop that echoes n messages over it.
	mem func(m compMode) (*memConn, func(n int) error, error)
	// serve runs the library's echo server on ln, calling ready before each
	// read.
	serve func(ln net.Listener, m compMode, ready func()) *tcpServer
	dial  func(addr string) (client, error)
	modes []compMode
}

var libs = []lib{
	{"pushwire", pushwireMem, pushwireServe, pushwireDial, []compMode{takeover, noTakeover}},
	{"pushwire-http", pushwireMem, pushwireServeHTTP, pushwireDial, []compMode{takeover, noTakeover}},
	{"pushwire-handler", pushwireMem, pushwireServeHandler, pushwireDial, []compMode{takeover, noTakeover}},
	{"gorilla", gorillaMem, gorillaServe, gorillaDial, []compMode{noTakeover}}, // it knows no context takeover
	{"gobwas", gobwasMem, gobwasServe, gobwasDial, nil},                        // wsflate is not benchmarked
	{"coder", coderMem, coderServe, coderDial, []compMode{takeover, noTakeover}},
	{"gws", gwsMem, gwsServe, gwsDial, []compMode{takeover, noTakeover}},
}

func (l lib) supports(m compMode) bool {
	if m == plain {
		return true
	}
	for _, x := range l.modes {
		if x == m {
			return true
		}
	}
	return false
}

func nop() {}

// client is one library's client connection.
type client interface {
	// roundTrip sends p and reads the reply into buf.
	roundTrip(p, buf []byte) ([]byte, error)
	close()
}

// tcpServer is an echo server on a listener; stop closes the listener and
// waits for every connection's handler to return, so that no benchmark's
// goroutines outlive it.
type tcpServer struct {
	addr          string
	closeListener func() error
	wg            sync.WaitGroup
}

func (s *tcpServer) stop() {
	s.closeListener()
	s.wg.Wait()
}

// serveRaw runs handle on a goroutine per accepted connection: the raw
// net.Conn server API of pushwire, gobwas and gws.
func serveRaw(ln net.Listener, handle func(net.Conn)) *tcpServer {
	s := &tcpServer{addr: ln.Addr().String(), closeListener: ln.Close}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(nc)
			}()
		}
	}()
	return s
}

// serveHTTP serves h with net/http: the only server API of gorilla and coder.
func serveHTTP(ln net.Listener, h http.HandlerFunc) *tcpServer {
	s := &tcpServer{addr: ln.Addr().String()}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.wg.Add(1)
		defer s.wg.Done()
		h(w, r)
	})}
	s.closeListener = hs.Close
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		hs.Serve(ln)
	}()
	return s
}

// --- pushwire

func pushwireEcho(c *conn.Conn, n int, ready func()) error {
	ctx := context.Background()
	var buf []byte
	for i := 0; n < 0 || i < n; i++ {
		ready()
		typ, msg, err := c.ReadMessage(ctx, buf)
		if err != nil {
			return err
		}
		if err := c.WriteMessage(ctx, typ, msg); err != nil {
			return err
		}
		buf = msg
	}
	return c.Flush(ctx)
}

// pushwireOptions has the server send the answers to a burst of messages
// together.
var pushwireOptions = conn.Options{CoalesceWrites: true}

func pushwireMem(m compMode) (*memConn, func(int) error, error) {
	if m == plain {
		nc := &memConn{}
		c := conn.New(nc, conn.Server, nil, &pushwireOptions)
		return nc, func(n int) error { return pushwireEcho(c, n, nop) }, nil
	}
	r, w, nc := upgradeRequest(m)
	c, err := conn.Accept(w, r, &conn.AcceptOptions{Options: pushwireOptions, Compression: m.config()})
	return nc, func(n int) error { return pushwireEcho(c, n, nop) }, err
}

func pushwireServe(ln net.Listener, m compMode, ready func()) *tcpServer {
	// Made once: a literal in the handler would make its frame, which the
	// connection's goroutine keeps for its life, larger.
	opts := &conn.AcceptOptions{Options: pushwireOptions, Compression: m.config()}
	return serveRaw(ln, func(nc net.Conn) {
		defer nc.Close()
		c, err := conn.AcceptConn(nc, opts)
		if err != nil {
			return
		}
		pushwireEcho(c, -1, ready)
	})
}

// pushwireServeHTTP is pushwire behind net/http, reading in the handler as
// the README's first example does.
func pushwireServeHTTP(ln net.Listener, m compMode, ready func()) *tcpServer {
	opts := &conn.AcceptOptions{Options: pushwireOptions, Compression: m.config()}
	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.NetConn().Close()
		pushwireEcho(c, -1, ready)
	})
}

// pushwireServeHandler is pushwire behind net/http through conn.Handler,
// which serves each connection on a goroutine of its own, so that net/http
// drops its state for the request.
func pushwireServeHandler(ln net.Listener, m compMode, ready func()) *tcpServer {
	var s *tcpServer
	s = serveHTTP(ln, (&conn.Handler{
		Options: &conn.AcceptOptions{Options: pushwireOptions, Compression: m.config()},
		Serve: func(c *conn.Conn, _ *http.Request) {
			s.wg.Add(1)
			defer s.wg.Done()
			defer c.NetConn().Close()
			pushwireEcho(c, -1, ready)
		},
	}).ServeHTTP)
	return s
}

type pushwireClient struct{ c *conn.Conn }

func pushwireDialMode(addr string, m compMode) (*conn.Conn, error) {
	return conn.Dial(context.Background(), "ws://"+addr+"/", &conn.DialOptions{Compression: m.config()})
}

func pushwireDial(addr string) (client, error) {
	c, err := pushwireDialMode(addr, plain)
	return pushwireClient{c}, err
}

func (pc pushwireClient) roundTrip(p, buf []byte) ([]byte, error) {
	ctx := context.Background()
	if err := pc.c.WriteMessage(ctx, conn.Binary, p); err != nil {
		return nil, err
	}
	_, msg, err := pc.c.ReadMessage(ctx, buf)
	return msg, err
}

func (pc pushwireClient) close() { pc.c.NetConn().Close() }

// --- gorilla

func gorillaEcho(c *gorilla.Conn, n int, ready func()) error {
	var buf []byte
	for i := 0; n < 0 || i < n; i++ {
		ready()
		typ, r, err := c.NextReader()
		if err != nil {
			return err
		}
		if buf, err = readAll(r, buf); err != nil {
			return err
		}
		if err := c.WriteMessage(typ, buf); err != nil {
			return err
		}
	}
	return nil
}

func gorillaMem(m compMode) (*memConn, func(int) error, error) {
	r, w, nc := upgradeRequest(m)
	up := gorilla.Upgrader{EnableCompression: m != plain}
	c, err := up.Upgrade(w, r, nil)
	return nc, func(n int) error { return gorillaEcho(c, n, nop) }, err
}

func gorillaServe(ln net.Listener, m compMode, ready func()) *tcpServer {
	up := gorilla.Upgrader{EnableCompression: m != plain}
	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		gorillaEcho(c, -1, ready)
	})
}

type gorillaClient struct{ c *gorilla.Conn }

func gorillaDial(addr string) (client, error) {
	c, _, err := gorilla.DefaultDialer.Dial("ws://"+addr+"/", nil)
	return gorillaClient{c}, err
}

func (gc gorillaClient) roundTrip(p, buf []byte) ([]byte, error) {
	if err := gc.c.WriteMessage(gorilla.BinaryMessage, p); err != nil {
		return nil, err
	}
	_, r, err := gc.c.NextReader()
	if err != nil {
		return nil, err
	}
	return readAll(r, buf)
}

func (gc gorillaClient) close() { gc.c.Close() }

// --- gobwas, through its low-level API with reused buffers

func gobwasEcho(rw io.ReadWriter, n int, ready func()) error {
	br := bufio.NewReaderSize(rw, 4096)
	bw := bufio.NewWriterSize(rw, 4096)
	hbuf := make([]byte, ws.MaxHeaderSize)
	wbuf := make([]byte, ws.MaxHeaderSize)
	var buf []byte
	for i := 0; n < 0 || i < n; i++ {
		ready()
		h, err := ws.ReadHeaderBuffer(br, hbuf)
		if err != nil {
			return err
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		buf = buf[:h.Length]
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		if h.Masked {
			ws.Cipher(buf, h.Mask, 0)
		}
		op := h.OpCode
		switch op {
		case ws.OpPing:
			op = ws.OpPong
		case ws.OpPong:
			continue
		}
		if err := ws.WriteHeaderBuffer(bw, ws.Header{Fin: true, OpCode: op, Length: h.Length}, wbuf); err != nil {
			return err
		}
		bw.Write(buf)
		// Answers to requests already read wait for the last of them: one
		// system call for a burst, as pushwire's CoalesceWrites does.
		if br.Buffered() > 0 && op != ws.OpClose {
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if op == ws.OpClose {
			return io.EOF
		}
	}
	return bw.Flush()
}

func gobwasMem(compMode) (*memConn, func(int) error, error) {
	nc := &memConn{}
	return nc, func(n int) error { return gobwasEcho(nc, n, nop) }, nil
}

func gobwasServe(ln net.Listener, _ compMode, ready func()) *tcpServer {
	return serveRaw(ln, func(nc net.Conn) {
		defer nc.Close()
		if _, err := ws.Upgrade(nc); err != nil {
			return
		}
		gobwasEcho(nc, -1, ready)
	})
}

type gobwasClient struct {
	nc               net.Conn
	br               *bufio.Reader
	bw               *bufio.Writer
	hbuf, wbuf, data []byte
}

func gobwasDial(addr string) (client, error) {
	nc, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, 4096)
	}
	return &gobwasClient{nc: nc, br: br, bw: bufio.NewWriterSize(nc, 4096),
		hbuf: make([]byte, ws.MaxHeaderSize), wbuf: make([]byte, ws.MaxHeaderSize)}, nil
}

func (gc *gobwasClient) roundTrip(p, buf []byte) ([]byte, error) {
	key := ws.NewMask()
	gc.data = append(gc.data[:0], p...)
	ws.Cipher(gc.data, key, 0)
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: key, Length: int64(len(p))}
	if err := ws.WriteHeaderBuffer(gc.bw, h, gc.wbuf); err != nil {
		return nil, err
	}
	gc.bw.Write(gc.data)
	if err := gc.bw.Flush(); err != nil {
		return nil, err
	}
	rh, err := ws.ReadHeaderBuffer(gc.br, gc.hbuf)
	if err != nil {
		return nil, err
	}
	if int64(cap(buf)) < rh.Length {
		buf = make([]byte, rh.Length)
	}
	buf = buf[:rh.Length]
	_, err = io.ReadFull(gc.br, buf)
	return buf, err
}

func (gc *gobwasClient) close() { gc.nc.Close() }

// --- coder

func coderEcho(c *coder.Conn, n int, ready func()) error {
	ctx := context.Background()
	var buf []byte
	for i := 0; n < 0 || i < n; i++ {
		ready()
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return err
		}
		if buf, err = readAll(r, buf); err != nil {
			return err
		}
		if err := c.Write(ctx, typ, buf); err != nil {
			return err
		}
	}
	return nil
}

func coderOptions(m compMode) *coder.AcceptOptions {
	return &coder.AcceptOptions{CompressionMode: [...]coder.CompressionMode{
		plain:      coder.CompressionDisabled,
		takeover:   coder.CompressionContextTakeover,
		noTakeover: coder.CompressionNoContextTakeover,
	}[m]}
}

func coderMem(m compMode) (*memConn, func(int) error, error) {
	r, w, nc := upgradeRequest(m)
	c, err := coder.Accept(w, r, coderOptions(m))
	if err != nil {
		return nil, nil, err
	}
	c.SetReadLimit(readLimit)
	return nc, func(n int) error { return coderEcho(c, n, nop) }, nil
}

func coderServe(ln net.Listener, m compMode, ready func()) *tcpServer {
	opts := coderOptions(m)
	return serveHTTP(ln, func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(readLimit)
		coderEcho(c, -1, ready)
	})
}

type coderClient struct{ c *coder.Conn }

func coderDial(addr string) (client, error) {
	c, _, err := coder.Dial(context.Background(), "ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	return coderClient{c}, nil
}

func (cc coderClient) roundTrip(p, buf []byte) ([]byte, error) {
	ctx := context.Background()
	if err := cc.c.Write(ctx, coder.MessageBinary, p); err != nil {
		return nil, err
	}
	_, r, err := cc.c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	return readAll(r, buf)
}

func (cc coderClient) close() { cc.c.CloseNow() }

// --- gws, whose API is event callbacks driven by its ReadLoop

type gwsEcho struct {
	gws.BuiltinEventHandler
	ready func()
}

func (h *gwsEcho) OnOpen(*gws.Conn) { h.ready() }

func (h *gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	c.WriteMessage(m.Opcode, m.Bytes())
	m.Close()
	h.ready()
}

func gwsOption(m compMode) *gws.ServerOption {
	return &gws.ServerOption{PermessageDeflate: gws.PermessageDeflate{
		Enabled:               m != plain,
		ServerContextTakeover: m == takeover,
		ClientContextTakeover: m == takeover,
	}}
}

func gwsMem(m compMode) (*memConn, func(int) error, error) {
	r, _, nc := upgradeRequest(m)
	up := gws.NewUpgrader(&gwsEcho{ready: nop}, gwsOption(m))
	c, err := up.UpgradeFromConn(nc, bufio.NewReaderSize(nc, 4096), r)
	return nc, func(int) error { c.ReadLoop(); return nil }, err
}

// gwsServe is gws.Server.RunListener's loop, which cannot be stopped.
func gwsServe(ln net.Listener, m compMode, ready func()) *tcpServer {
	up := gws.NewUpgrader(&gwsEcho{ready: ready}, gwsOption(m))
	return serveRaw(ln, func(nc net.Conn) {
		br := bufio.NewReaderSize(nc, 4096)
		r, err := http.ReadRequest(br)
		if err != nil {
			nc.Close()
			return
		}
		c, err := up.UpgradeFromConn(nc, br, r)
		if err != nil {
			return
		}
		c.ReadLoop()
	})
}

type gwsClient struct {
	gws.BuiltinEventHandler
	c      *gws.Conn
	msgs   chan *gws.Message
	closed chan struct{}
}

func (gc *gwsClient) OnMessage(_ *gws.Conn, m *gws.Message) { gc.msgs <- m }
func (gc *gwsClient) OnClose(*gws.Conn, error)              { close(gc.closed) }

func gwsDial(addr string) (client, error) {
	gc := &gwsClient{msgs: make(chan *gws.Message, 1), closed: make(chan struct{})}
	c, _, err := gws.NewClient(gc, &gws.ClientOption{Addr: "ws://" + addr + "/"})
	if err != nil {
		return nil, err
	}
	gc.c = c
	go c.ReadLoop()
	return gc, nil
}

func (gc *gwsClient) roundTrip(p, buf []byte) ([]byte, error) {
	if err := gc.c.WriteMessage(gws.OpcodeBinary, p); err != nil {
		return nil, err
	}
	select {
	case m := <-gc.msgs:
		buf = append(buf[:0], m.Bytes()...)
		m.Close()
		return buf, nil
	case <-gc.closed:
		return nil, net.ErrClosed
	}
}

func (gc *gwsClient) close() {
	gc.c.NetConn().Close()
	<-gc.closed
}
