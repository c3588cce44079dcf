package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	crand "crypto/rand"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/utf8check"
	"github.com/pushwire/pushwire/mask"
)

// Defaults of Options.
const (
	DefaultReadLimit       = 16 << 20
	DefaultMaxFragments    = 1 << 20
	DefaultReadBufferSize  = 4096
	DefaultWriteBufferSize = 4096
	DefaultCloseTimeout    = 5 * time.Second
)

// Options tune a connection. The zero value of each field selects its default.
type Options struct {
	// ReadLimit bounds the size of a received message, after decompression;
	// a larger one fails the connection with CloseTooBig. Default 16 MiB; a
	// negative value removes the bound.
	ReadLimit int64
	// MaxFragments bounds the frames of one received message, so that a
	// peer cannot stream empty continuation frames forever. Default 2^20.
	MaxFragments int
	// ReadBufferSize and WriteBufferSize size the connection's buffers.
	// Messages larger than the buffers bypass them. Default 4 KiB each;
	// buffers of the default size grow to 64 KiB while frames of up to
	// 2 KiB fill the read buffer, or held ones (see CoalesceWrites) the
	// write buffer, so that a busy connection makes fewer system calls. An
	// idle connection over TCP or a Unix socket holds no buffer of either
	// size.
	ReadBufferSize  int
	WriteBufferSize int
	// CloseTimeout bounds Close: the wait for other writers, the write of
	// our close frame and the wait for the peer's. After the Conn fails the connection for a broken rule, it
	// also bounds the wait for the peer to close, while input is discarded.
	// Default 5 s.
	CloseTimeout time.Duration
	// PingInterval, if set, sends a ping after that long without any frame
	// from the peer; if the peer then stays silent for PongTimeout (default:
	// PingInterval), the connection fails with ErrPongTimeout: a half-open
	// peer is detected, and so is one that stopped reading while a writer
	// is blocked on it.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// OnPing and OnPong are called by the reader for each ping and pong, with
	// a payload that is valid only during the call. A pong answers every
	// ping without help from OnPing.
	OnPing func(payload []byte)
	OnPong func(payload []byte)
	// CoalesceWrites lets a data frame that fits the write buffer wait there,
	// so that messages written in a burst share one system call. Held frames
	// go out when the buffer fills, with the next control frame, on Flush and
	// on Close, and before the reader waits for the network; one written
	// while the reader waits goes out at once. It suits a goroutine that
	// reads and answers: the answers to pipelined requests leave together
	// once the requests are read. Where no read follows, call Flush.
	// WriteMessage's nil error then means the message is buffered; if
	// sending it fails later, the connection fails.
	CoalesceWrites bool
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.ReadLimit == 0 {
		d.ReadLimit = DefaultReadLimit
	}
	if d.ReadLimit < 0 {
		d.ReadLimit = 1<<63 - 1
	}
	if d.MaxFragments <= 0 {
		d.MaxFragments = DefaultMaxFragments
	}
	// A control frame must fit the read buffer whole.
	d.ReadBufferSize = max(d.ReadBufferSize, 256)
	if o == nil || o.ReadBufferSize == 0 {
		d.ReadBufferSize = DefaultReadBufferSize
	}
	d.WriteBufferSize = max(d.WriteBufferSize, 256)
	if o == nil || o.WriteBufferSize == 0 {
		d.WriteBufferSize = DefaultWriteBufferSize
	}
	if d.CloseTimeout <= 0 {
		d.CloseTimeout = DefaultCloseTimeout
	}
	if d.PingInterval > 0 && d.PongTimeout <= 0 {
		d.PongTimeout = d.PingInterval
	}
	return d
}

// minGrow is the least a message's buffer grows by while its payload
// arrives (see readFrames): a frame of up to 64 KiB costs at most one
// allocation.
const minGrow = 64 << 10

// Role tells which end of the connection this side is.
type Role bool

const (
	Server Role = true
	Client Role = false
)

var (
	errTooManyFragments = &frame.Error{Code: frame.ClosePolicyViolation, Rule: "too many fragments in one message"}
	errWriterClosed     = errors.New("websocket: write to a closed message writer")
)

// Conn is a WebSocket connection. Any number of goroutines may write to it at
// once; one goroutine at a time may read from it.
type Conn struct {
	nc     net.Conn
	server bool
	opts   Options
	codec  *codec // nil when no compression was negotiated
	// subprotocol is the one the opening handshake agreed on, or "".
	subprotocol string

	// Reader state; readMu serialises readers and Close's own draining.
	readMu    sync.Mutex
	raw       *rawRead // reads through the raw socket, or nil
	rbuf      []byte   // nil while idle, if raw is set
	r, w      int      // rbuf[r:w] holds received bytes not yet consumed
	check     frame.Checker
	hdr       frame.Header // the current data frame
	left      int64        // payload bytes of hdr not yet read
	maskPos   int
	inMsg     bool // a data message has begun and not ended
	msgText   bool
	msgZip    bool
	largeRead bool // reads need the large buffer (see sizeRead)
	msgSize   int64
	frames    int
	utf8      utf8check.Validator
	partial   []byte         // message bytes read before a deadline cut ReadMessage short
	mr        *messageReader // made by the first NextReader

	// Writer state. frameMu admits one frame at a time; a writer that must
	// wait for it waits on frameFree too, so that a context can abandon the
	// wait. While a streamed message is open (streaming), other data
	// messages wait for its end; control frames interleave with its
	// fragments.
	frameMu    sync.Mutex
	frameFree  chan struct{}
	streaming  bool // under frameMu
	largeWrite bool // held frames filled wbuf: the next one is large
	wbuf       []byte
	bufArr     [2][]byte
	bufs       net.Buffers // over bufArr, a field so that writev does not allocate
	rng        *rand.ChaCha8
	writeErr   error          // sticky, under frameMu
	mw         *messageWriter // made by the first NextWriter

	// With CoalesceWrites, wbuf holds frames not yet sent (held). A writer
	// sets held, then sends at once if the reader waits. The reader sets
	// waiting, then sends what is held if frameMu is free, else its holder
	// does on unlocking. Each side sees the other's flag.
	held, waiting atomic.Bool

	// The user's deadlines (unix nanoseconds, 0 for none), restored after a
	// cancelled context moved them. rctx is used under readMu, wctx under
	// frameMu.
	rdeadline, wdeadline atomic.Int64
	rctx, wctx           ctxWatch

	closeSent atomic.Bool
	final     atomic.Pointer[CloseError] // how the connection ended; set once
	done      chan struct{}              // closed once reading has ended (peer's close or failure)
	doneOnce  sync.Once
	closeOnce sync.Once

	pongs    atomic.Pointer[chan struct{}] // made by the first Ping; signalled by the reader on each pong
	lastRead atomic.Int64                  // unix nanoseconds of the last frame received, for keepalive
	pingSent int64                         // unix nanoseconds of the keepalive's outstanding ping, 0 if none; keepalive's own
	keep     atomic.Pointer[time.Timer]
}

// New makes a Conn of the given role over nc, whose opening handshake is
// complete. buffered holds bytes already read from nc past the handshake.
func New(nc net.Conn, role Role, buffered []byte, opts *Options) *Conn {
	return newConn(nc, role, buffered, opts, nil)
}

func newConn(nc net.Conn, role Role, buffered []byte, opts *Options, cd *codec) *Conn {
	c := &Conn{
		nc:        nc,
		server:    bool(role),
		opts:      opts.withDefaults(),
		codec:     cd,
		frameFree: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	c.check.Server = c.server
	if cd != nil {
		c.check.Rsv = frame.Rsv1
	}
	c.rctx.init(c, true)
	c.wctx.init(c, false)
	if len(buffered) > 0 {
		c.rbuf = make([]byte, max(c.opts.ReadBufferSize, len(buffered)))
		c.w = copy(c.rbuf, buffered)
	}
	if rc := rawConnOf(nc); rc != nil {
		c.raw = new(rawRead)
		c.raw.init(c, rc)
	}
	if !c.server {
		var seed [32]byte
		crand.Read(seed[:])
		c.rng = rand.NewChaCha8(seed)
	}
	if c.opts.PingInterval > 0 {
		c.lastRead.Store(time.Now().UnixNano())
		// Stored before it can fire: keepalive reschedules it.
		t := time.AfterFunc(time.Hour, c.keepalive)
		c.keep.Store(t)
		t.Reset(c.opts.PingInterval)
	}
	return c
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

func (c *Conn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Subprotocol returns the subprotocol the opening handshake agreed on, or ""
// if none (always "" for a Conn made by New).
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.codec != nil }

// SetReadDeadline sets the deadline for reads. A read that reaches it
// returns an error satisfying errors.Is(err, os.ErrDeadlineExceeded) and
// leaves the connection usable: the next read resumes where it stopped.
// The exception is a compressed message read through NextReader's reader,
// whose inflater cannot take up input that failed: there the deadline
// fails the connection (CloseAbnormal).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdeadline.Store(unixNano(t))
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for writes. A write that reaches it
// part way through a frame fails the connection, since the stream cannot be
// resumed.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdeadline.Store(unixNano(t))
	return c.nc.SetWriteDeadline(t)
}

// ---- Reading ----

// ReadMessage reads the next data message, appending its payload to buf[:0].
// Control frames that arrive first are answered. It returns a *CloseError
// once the peer closed or the connection failed; a cancelled ctx or a read
// deadline returns their error and keeps the connection usable.
func (c *Conn) ReadMessage(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	// Kept small, as are startRead and awaitIdle: the goroutine of an idle
	// connection parks below them, and a shallow stack stays at 2 KiB.
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.startRead(ctx); err != nil {
		return 0, buf[:0], err
	}
	return c.readLocked(buf[:0])
}

// startRead checks that the connection is open, arms ctx, and waits for the
// first bytes of a message when none are buffered.
func (c *Conn) startRead(ctx context.Context) error {
	if ce := c.final.Load(); ce != nil {
		return ce
	}
	if err := c.rctx.arm(ctx); err != nil {
		return err
	}
	if err := c.awaitIdle(); err != nil {
		return c.rctx.result(err)
	}
	return nil
}

func (c *Conn) readLocked(buf []byte) (MessageType, []byte, error) {
	if typ, msg, ok := c.readWhole(buf); ok {
		return typ, msg, c.rctx.result(nil)
	}
	typ, buf, err := c.readMessage(buf)
	return typ, buf, c.rctx.result(err)
}

// readWhole reads the next message in the common case, where it is one
// uncompressed frame that sits whole in rbuf and breaks no rule, without
// the general path's bookkeeping. When ok is false nothing was consumed,
// and the general path reads the message, or fails it with the right code.
func (c *Conn) readWhole(buf []byte) (typ MessageType, msg []byte, ok bool) {
	if c.inMsg || len(c.partial) > 0 || c.check.InMessage() {
		return 0, buf, false
	}
	// The header, decoded here for the common forms: FIN set, no RSV bit,
	// text or binary, masked exactly when we are the server, and a 7- or
	// 16-bit length. Anything else goes the general way. frame.Parse would
	// do, but returning its Header costs about 12 ns a message here.
	b := c.rbuf[c.r:c.w]
	if len(b) < 2 || b[0] != 0x80|byte(frame.OpText) && b[0] != 0x80|byte(frame.OpBinary) ||
		b[1]&0x80 != 0 != c.server {
		return 0, buf, false
	}
	text := b[0] == 0x80|byte(frame.OpText)
	n, length := 2, int(b[1]&0x7f)
	if length >= 126 {
		if length == 127 || len(b) < 4 {
			return 0, buf, false
		}
		n, length = 4, int(binary.BigEndian.Uint16(b[2:]))
		if length < 126 {
			return 0, buf, false // not the shortest form, which the general way reports
		}
	}
	var key [4]byte
	if c.server {
		if len(b) < n+4 {
			return 0, buf, false
		}
		key = [4]byte(b[n:])
		n += 4
	}
	if length > len(c.rbuf)-n || int64(length) > c.opts.ReadLimit {
		return 0, buf, false
	}
	if size := n + length; size > len(b) {
		// The rest of a binary frame that fits the buffer: read it in. Text
		// goes the general way, which checks each piece as it arrives.
		// So does a frame larger than the default buffer, which it reads
		// straight into the caller's memory.
		if text || size > c.opts.ReadBufferSize || c.fill(size) != nil {
			return 0, buf, false
		}
		b = c.rbuf[c.r:c.w]
	}
	p := b[n : n+length]
	buf = append(buf, p...)
	if c.server {
		mask.XOR(buf, key, 0)
	}
	typ = Binary
	if text {
		if !utf8check.Valid(buf) {
			return 0, buf[:0], false
		}
		typ = Text
	}
	c.r += n + len(p)
	if c.opts.PingInterval > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	return typ, buf, true
}

// awaitIdle waits for the first bytes of a message when none are buffered.
// It waits here, near the top of the stack, so that the goroutine of an idle
// connection keeps the smallest stack.
func (c *Conn) awaitIdle() error {
	if c.raw == nil || c.inMsg || c.r < c.w || len(c.partial) > 0 {
		return nil
	}
	c.r, c.w = 0, 0
	n, err := c.raw.read(true)
	c.w = n
	switch {
	case n > 0:
		return nil // a read returns bytes or an error, not both
	case isTimeout(err):
		return err
	}
	return c.readFailed(err)
}

func (c *Conn) readMessage(buf []byte) (MessageType, []byte, error) {
	if err := c.skipStreamed(); err != nil {
		return 0, buf[:0], err
	}
	if len(c.partial) > 0 {
		buf = append(buf, c.partial...)
		c.partial = c.partial[:0]
	}
	if !c.inMsg {
		if err := c.beginMessage(); err != nil {
			if isTimeout(err) {
				return 0, buf[:0], err
			}
			return 0, buf[:0], c.readFailed(err)
		}
	}
	typ := Binary
	if c.msgText {
		typ = Text
	}
	var err error
	if c.msgZip {
		buf, err = c.readCompressed(buf)
	} else {
		buf, err = c.readPlain(buf)
	}
	if err != nil {
		if isTimeout(err) {
			c.partial = append(c.partial[:0], buf...)
			return 0, buf[:0], err
		}
		return 0, buf[:0], c.readFailed(err)
	}
	return typ, buf, nil
}

// readPlain appends the rest of the current uncompressed message to buf.
func (c *Conn) readPlain(buf []byte) ([]byte, error) {
	buf, err := c.readFrames(buf, c.msgText)
	if err != nil {
		return buf, err
	}
	return buf, c.endMessage()
}

// readFrames appends the rest of the current message's payload, as sent, to
// buf, checking it as UTF-8 text as it arrives if text is set.
func (c *Conn) readFrames(buf []byte, text bool) ([]byte, error) {
	for {
		if err := c.toPayload(); err == io.EOF {
			return buf, nil
		} else if err != nil {
			return buf, err
		}
		n := len(buf)
		if cap(buf) == n {
			// Grow with the bytes that arrive, not with the length the
			// header declares: a peer that declares a large frame and
			// sends nothing costs no memory. Doubling keeps the copies
			// linear in the message's size.
			buf = slices.Grow(buf, min(int(c.left), max(n, minGrow)))
		}
		m, err := c.readPayload(buf[n:min(cap(buf), n+int(c.left))])
		buf = buf[:n+m]
		if text && !c.utf8.Write(buf[n:]) {
			return buf, frame.ErrInvalidUTF8
		}
		if err != nil {
			return buf, err
		}
	}
}

// beginMessage reads frames, answering control frames, up to the first frame
// of a data message.
func (c *Conn) beginMessage() error {
	h, err := c.nextDataFrame()
	if err != nil {
		return err
	}
	c.inMsg = true
	c.msgText = h.Op == frame.OpText
	c.msgZip = h.Rsv&frame.Rsv1 != 0
	c.msgSize = h.Length
	c.frames = 1
	c.utf8.Reset()
	return c.sizeCheck()
}

func (c *Conn) nextFragment() error {
	h, err := c.nextDataFrame()
	if err == io.EOF {
		return io.ErrUnexpectedEOF // the message is not over
	}
	if err != nil {
		return err
	}
	c.msgSize += h.Length
	c.frames++
	if c.frames > c.opts.MaxFragments {
		return errTooManyFragments
	}
	return c.sizeCheck()
}

func (c *Conn) sizeCheck() error {
	limit := c.opts.ReadLimit
	if c.msgZip {
		// The inflated size is bounded by the decompressor; this bounds what
		// is buffered, allowing for deflate's stored-block overhead.
		limit = satAdd(limit, limit>>8+64)
	}
	if c.msgSize > limit {
		return frame.ErrTooBig
	}
	return nil
}

func satAdd(a, b int64) int64 {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}

func (c *Conn) endMessage() error {
	c.inMsg = false
	if c.msgText && !c.utf8.Complete() {
		return frame.ErrInvalidUTF8
	}
	return nil
}

// nextDataFrame reads headers until a data frame's, handling control frames.
func (c *Conn) nextDataFrame() (frame.Header, error) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return h, err
		}
		if !h.Op.IsControl() {
			c.hdr, c.left, c.maskPos = h, h.Length, 0
			return h, nil
		}
		if err := c.control(h); err != nil {
			return h, err
		}
	}
}

func (c *Conn) readHeader() (frame.Header, error) {
	for {
		h, n, err := frame.Parse(c.rbuf[c.r:c.w])
		if err == frame.ErrShort {
			if err := c.fill(n); err != nil {
				return h, err
			}
			continue
		}
		if err != nil {
			return h, err
		}
		c.r += n
		if c.opts.PingInterval > 0 {
			c.lastRead.Store(time.Now().UnixNano())
		}
		return h, c.check.Check(h)
	}
}

// fill reads until at least need bytes are buffered; need is at most
// Options.ReadBufferSize. The bytes kept move to the start of rbuf.
func (c *Conn) fill(need int) error {
	if c.w-c.r >= need {
		return nil
	}
	if c.r > 0 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	for c.w < need {
		var n int
		var err error
		if c.raw != nil {
			n, err = c.raw.read(false)
		} else {
			c.readBuf()
			n, err = c.netRead(c.rbuf[c.w:])
			c.sizeRead(n)
		}
		c.w += n
		if err != nil {
			if c.w >= need {
				return nil
			}
			if err == io.EOF && c.w > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// netRead reads from nc, first sending the frames CoalesceWrites holds: the
// read may wait for the peer's answer to them.
func (c *Conn) netRead(p []byte) (int, error) {
	if !c.opts.CoalesceWrites {
		return c.nc.Read(p)
	}
	c.beforeWait()
	n, err := c.nc.Read(p)
	c.notWaiting()
	return n, err
}

// beforeWait marks the reader as waiting for the network and sends the
// frames writers hold, before a read from the network: like a reader's
// flush-on-drain, it sends the answers to all the buffered requests at once.
func (c *Conn) beforeWait() {
	if !c.waiting.Load() {
		c.waiting.Store(true)
	}
	if c.held.Load() {
		c.sendHeldNow()
	}
}

// sendHeldNow sends the held frames unless a writer is at work: that writer
// sends them when it unlocks (see unlockFrame). The reader never waits behind
// a write, so it keeps reading from a peer that is blocked writing to us.
// Not inlined, to keep the frames an idle reader parks below small.
//
//go:noinline
func (c *Conn) sendHeldNow() {
	if c.frameMu.TryLock() {
		c.flushLocked(context.Background())
		c.unlockFrame()
	}
}

// notWaiting clears waiting once the reader has bytes, or gave up.
func (c *Conn) notWaiting() {
	if c.waiting.Load() {
		c.waiting.Store(false)
	}
}

// readPayload reads at most len(p) payload bytes of the current frame into p
// and unmasks them. It makes at most one read from the network, so that a
// caller can check what arrived before the rest of the frame does.
func (c *Conn) readPayload(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if c.r < c.w {
		n = copy(p, c.rbuf[c.r:c.w])
		c.r += n
	} else if len(p) >= c.opts.ReadBufferSize {
		// Large payloads go straight into the caller's memory.
		n, err = c.netRead(p)
	} else {
		c.r, c.w = 0, 0
		if err = c.fill(1); err == nil {
			n = copy(p, c.rbuf[c.r:c.w])
			c.r += n
		}
	}
	if c.hdr.Masked {
		c.maskPos = mask.XOR(p[:n], c.hdr.Key, c.maskPos)
	}
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if n > 0 && err != nil && c.left > 0 {
		// Report the bytes now and the error on the next call.
		err = nil
	}
	return n, err
}

// control handles a control frame whose header was just read.
func (c *Conn) control(h frame.Header) error {
	n := int(h.Length)
	if err := c.fill(n); err != nil {
		return err
	}
	// Unmasked in place: the bytes are consumed, and nothing reads rbuf
	// before this returns.
	p := c.rbuf[c.r : c.r+n : c.r+n]
	c.r += n
	if h.Masked {
		mask.XOR(p, h.Key, 0)
	}
	switch h.Op {
	case frame.OpPing:
		if c.opts.OnPing != nil {
			c.opts.OnPing(p)
		}
		if c.closeSent.Load() {
			return nil
		}
		if err := c.writeControl(context.Background(), frame.OpPong, p); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	case frame.OpPong:
		if c.opts.OnPong != nil {
			c.opts.OnPong(p)
		}
		if ch := c.pongs.Load(); ch != nil {
			select {
			case *ch <- struct{}{}:
			default:
			}
		}
	case frame.OpClose:
		return c.peerClosed(p)
	}
	return nil
}

// peerClosed answers the peer's close frame and ends the connection.
func (c *Conn) peerClosed(p []byte) error {
	code, reason, err := frame.ParseClose(p)
	if err != nil {
		return err
	}
	ce := &CloseError{Code: code, Reason: string(reason)}
	if c.closeSent.CompareAndSwap(false, true) {
		// Echo the code, as RFC 6455 section 5.5.1 suggests.
		var b [2]byte
		c.writeClose(frame.AppendClose(b[:0], code, ""), time.Now().Add(c.opts.CloseTimeout))
	}
	if !c.server {
		// The server closes the TCP connection first (RFC 6455 section
		// 7.1.1); wait a bounded time for it.
		c.drain()
	}
	return c.finish(ce)
}

// readFailed turns a read error into the connection's final state. A broken
// rule sends its close code to the peer.
func (c *Conn) readFailed(err error) error {
	if ce, ok := err.(*CloseError); ok {
		return c.finish(ce)
	}
	ce := &CloseError{Code: CloseAbnormal, Local: true, Err: err}
	if fe, ok := errors.AsType[*frame.Error](err); ok {
		ce.Code, ce.Reason = fe.Code, fe.Rule
		if c.closeSent.CompareAndSwap(false, true) {
			var b [2]byte
			c.writeClose(frame.AppendClose(b[:0], fe.Code, ""), time.Now().Add(c.opts.CloseTimeout))
		}
	} else if c.closeSent.Load() && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		// We closed and the peer dropped the connection without answering.
		ce.Local = true
	}
	return c.finish(ce)
}

// finish records how the connection ended, unless that is known already,
// releases it, and returns the final state.
func (c *Conn) finish(ce *CloseError) *CloseError {
	c.final.CompareAndSwap(nil, ce)
	c.doneOnce.Do(func() {
		close(c.done)
		if t := c.keep.Load(); t != nil {
			t.Stop()
		}
		if ce := c.final.Load(); ce.Local && ce.Code != CloseAbnormal {
			// We failed the connection for a broken rule, with a close frame.
			go c.linger()
		} else {
			c.nc.Close()
		}
	})
	return c.final.Load()
}

// linger closes the connection after the close frame that failed it, which
// the peer may not have read: a peer still sending would find bytes unread,
// and closing then resets the connection, which can destroy our close frame
// (and the messages before it) in the peer's buffers. So our side shuts its
// writing, and discards what arrives until the peer closes, or CloseTimeout.
func (c *Conn) linger() {
	defer c.nc.Close()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.drain()
	}
}

// drain discards input until the peer closes the connection, or
// CloseTimeout.
func (c *Conn) drain() {
	c.nc.SetReadDeadline(time.Now().Add(c.opts.CloseTimeout))
	io.Copy(io.Discard, c.nc)
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// NextReader returns the next data message as a stream. The reader is valid
// until the next call to NextReader or ReadMessage.
func (c *Conn) NextReader() (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.final.Load() != nil {
		return 0, nil, c.final.Load()
	}
	c.rctx.disarm()
	if err := c.awaitIdle(); err != nil {
		return 0, nil, err
	}
	if err := c.skipStreamed(); err != nil {
		return 0, nil, err
	}
	if c.inMsg {
		// Skip the rest of a message a deadline cut ReadMessage short in.
		if _, _, err := c.readMessage(c.partial[:0]); err != nil {
			return 0, nil, err
		}
	}
	if err := c.beginMessage(); err != nil {
		if isTimeout(err) {
			return 0, nil, err
		}
		return 0, nil, c.readFailed(err)
	}
	if c.mr == nil {
		c.mr = &messageReader{c: c, raw: rawReader{c}}
	}
	c.mr.zip, c.mr.open = nil, true
	if c.msgZip {
		c.mr.zip = c.codec.reader(&c.mr.raw, c.opts.ReadLimit)
	}
	typ := Binary
	if c.msgText {
		typ = Text
	}
	return typ, c.mr, nil
}

// messageReader streams one message; raw yields its payload as sent.
type messageReader struct {
	c    *Conn
	raw  rawReader
	zip  io.Reader
	open bool // the message has not ended
}

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.final.Load() != nil {
		return 0, c.final.Load()
	}
	c.rctx.disarm()
	return r.read(p)
}

// skipStreamed reads to its end the message of the last NextReader, if the
// caller left it unread, the way its reader would: a compressed message
// must be inflated, since the next ones may refer to its text, and text
// must be valid throughout. The caller holds readMu.
func (c *Conn) skipStreamed() error {
	if c.mr == nil || !c.mr.open {
		return nil
	}
	scratch := make([]byte, 512) // escapes to the inflater: made only when needed
	for c.mr.open {
		if _, err := c.mr.read(scratch); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// read is Read under readMu.
func (r *messageReader) read(p []byte) (int, error) {
	c := r.c
	if !r.open {
		return 0, io.EOF
	}
	var n int
	var err error
	if r.zip != nil {
		n, err = r.zip.Read(p)
		switch {
		case n > 0 && c.msgText && !c.utf8.Write(p[:n]):
			err = frame.ErrInvalidUTF8
		case err == io.EOF:
			// The deflate stream may end before the message, with a block
			// marked final: what follows it is no data, as for ReadMessage.
			if err = c.discardPayload(); err == nil {
				if err = c.endMessage(); err == nil {
					err = io.EOF
				}
			}
		case isTimeout(err):
			// The inflater saw its input fail and cannot resume.
			r.open = false
			return n, c.readFailed(err)
		case err != nil:
			err = inflateError(err)
		}
	} else {
		n, err = r.raw.read(p)
	}
	if err != nil && !isTimeout(err) {
		r.open = false
		if err != io.EOF {
			err = c.readFailed(err)
		}
	}
	return n, err
}

// rawReader reads the payload of the current message across its fragments,
// as sent (compressed or not).
type rawReader struct{ c *Conn }

func (r *rawReader) Read(p []byte) (int, error) {
	if err := r.c.toPayload(); err != nil {
		return 0, err
	}
	return r.c.readPayload(p)
}

// toPayload moves past the fragments that have no payload left, to the
// next byte of the message's payload; io.EOF at the message's end.
func (c *Conn) toPayload() error {
	for c.left == 0 {
		if c.hdr.Fin {
			return io.EOF
		}
		if err := c.nextFragment(); err != nil {
			return err
		}
	}
	return nil
}

// discardPayload drops the rest of the current message's payload.
func (c *Conn) discardPayload() error {
	for {
		if err := c.toPayload(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
			if err := c.fill(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		n := min(int64(c.w-c.r), c.left)
		c.r += int(n)
		c.left -= n
	}
}

func (r *rawReader) read(p []byte) (int, error) {
	c := r.c
	n, err := r.Read(p)
	if n > 0 && c.msgText && !c.utf8.Write(p[:n]) {
		return n, frame.ErrInvalidUTF8
	}
	if err == io.EOF {
		if err = c.endMessage(); err == nil {
			err = io.EOF
		}
	}
	return n, err
}

// ---- Writing ----

// WriteMessage sends p as one message of type typ, in one frame. A cancelled
// ctx abandons the wait for other writers; once the frame is under way, it
// fails the connection.
func (c *Conn) WriteMessage(ctx context.Context, typ MessageType, p []byte) error {
	op := frame.OpBinary
	if typ == Text {
		op = frame.OpText
	}
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	if c.codec != nil && len(p) >= c.codec.threshold {
		return c.writeCompressed(ctx, op, p)
	}
	return c.writeFrameContext(ctx, frame.Header{Fin: true, Op: op}, p)
}

// writeFrameContext is writeFrame with ctx able to cut it short. The caller
// holds frameMu.
func (c *Conn) writeFrameContext(ctx context.Context, h frame.Header, p []byte) error {
	if err := c.wctx.arm(ctx); err != nil {
		return err
	}
	return c.wctx.result(c.writeFrame(h, p))
}

// lockFrame takes frameMu, waiting on frameFree while it is held so that
// ctx can abandon the wait.
func (c *Conn) lockFrame(ctx context.Context) error {
	for !c.frameMu.TryLock() {
		select {
		case <-c.frameFree:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// unlockFrame frees frameMu and wakes a waiter, if any. Every unlock leaves
// a token, so a waiter that takes one and finds the lock held again waits
// for that holder's. Once a token sits in frameFree, the send fails fast
// without taking the channel's lock.
//
// A reader that found frameMu held when it went to send the held frames
// left them to the holder: with the reader waiting, they go now.
func (c *Conn) unlockFrame() {
	c.frameMu.Unlock()
	select {
	case c.frameFree <- struct{}{}:
	default:
	}
	if c.opts.CoalesceWrites && c.waiting.Load() && c.held.Load() {
		c.sendHeldNow()
	}
}

// lockMessage takes frameMu at a point where a data message may begin: no
// streamed message is open.
func (c *Conn) lockMessage(ctx context.Context) error {
	for {
		if err := c.lockFrame(ctx); err != nil {
			return err
		}
		if !c.streaming {
			return nil
		}
		c.unlockFrame()
		select {
		case <-c.frameFree:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		}
	}
}

// writeControl sends one control frame; ctx bounds the wait for other
// writers and the write.
func (c *Conn) writeControl(ctx context.Context, op frame.Opcode, p []byte) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.writeFrameContext(ctx, frame.Header{Fin: true, Op: op}, p)
}

// writeClose sends a close frame by deadline, whatever other writers are
// doing: the socket's write deadline moves to deadline before the wait for
// frameMu, so that a writer blocked on a peer that does not read gives the
// lock up by then (its write fails with a timeout).
func (c *Conn) writeClose(p []byte, deadline time.Time) error {
	c.wdeadline.Store(deadline.UnixNano())
	c.nc.SetWriteDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := c.writeControl(ctx, frame.OpClose, p); err != nil {
		return fmt.Errorf("websocket: close frame not sent within CloseTimeout (%v): %w", c.opts.CloseTimeout, err)
	}
	return nil
}

// writeFrame writes one frame, header and payload in one system call where
// they fit the buffer (or with writev where they do not), after any frames
// held by CoalesceWrites. The caller holds frameMu.
func (c *Conn) writeFrame(h frame.Header, p []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if h.Op != frame.OpClose && c.closeSent.Load() {
		return ErrClosed
	}
	c.writeBuf()
	h.Length = int64(len(p))
	if !c.server {
		h.Masked = true
		k := uint32(c.rng.Uint64())
		h.Key = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	}
	held := len(c.wbuf)
	var b []byte
	if h.Fin && !h.Masked && h.Length <= 125 {
		// The commonest header, without the call to AppendHeader (about
		// 7 ns a message).
		b = append(c.wbuf, 0x80|h.Rsv<<4|byte(h.Op), byte(h.Length))
	} else {
		b = frame.AppendHeader(c.wbuf, h)
	}
	var n int64
	var err error
	switch {
	case len(b)+len(p) <= cap(b):
		b = append(b, p...)
		if h.Masked {
			mask.XOR(b[len(b)-len(p):], h.Key, 0)
		}
		if c.opts.CoalesceWrites && !h.Op.IsControl() {
			c.wbuf = b
			if !c.held.Load() { // set since the last send: no store needed
				c.held.Store(true)
			}
			if !c.waiting.Load() {
				return nil
			}
		}
		var m int
		m, err = c.nc.Write(b)
		n = int64(m)
	case !h.Masked:
		c.needLargeWrite(h, p, held)
		c.bufArr = [2][]byte{b, p}
		c.bufs = c.bufArr[:]
		n, err = c.bufs.WriteTo(c.nc)
		c.bufArr = [2][]byte{}
	default:
		c.needLargeWrite(h, p, held)
		// The payload is the caller's: mask a copy, in chunks of a pooled
		// buffer larger than wbuf, so that a large message costs few system
		// calls without every client keeping a large buffer.
		if len(b) >= maskChunk {
			// Held frames (only with a write buffer that large) would leave
			// no room for the payload: they go first.
			var m int
			m, err = c.nc.Write(b[:held])
			n = int64(m)
			b = b[held:]
		}
		sp := maskPool.Get().(*[]byte)
		chunk := append((*sp)[:0], b...)
		pos := 0
		for len(p) > 0 && err == nil {
			k := min(len(p), cap(chunk)-len(chunk))
			chunk = append(chunk, p[:k]...)
			pos = mask.XOR(chunk[len(chunk)-k:], h.Key, pos)
			var m int
			m, err = c.nc.Write(chunk)
			n += int64(m)
			p = p[k:]
			chunk = chunk[:0]
		}
		maskPool.Put(sp)
	}
	return c.wrote(n, err, held > 0)
}

// needLargeWrite notes that a data frame of at most half the default buffer
// did not fit after the held ones: the next wbuf is large, to hold more.
// Larger frames gain less from sharing a write (see sizeRead).
func (c *Conn) needLargeWrite(h frame.Header, p []byte, held int) {
	if c.opts.CoalesceWrites && held > 0 && !h.Op.IsControl() && len(p) <= DefaultWriteBufferSize/2 {
		c.largeWrite = true
	}
}

// wrote empties wbuf after a write of n bytes, and fails the connection if
// the write failed part way or lost held frames.
func (c *Conn) wrote(n int64, err error, held bool) error {
	c.wbuf = c.wbuf[:0]
	if c.opts.CoalesceWrites {
		c.held.Store(false)
	}
	if err != nil && (n > 0 || held || !isTimeout(err)) {
		// Part of a frame may be out, or a message the caller was told is
		// sent is not: the stream cannot continue.
		c.writeErr = err
		c.nc.Close()
	}
	return err
}

// sendHeld sends the frames CoalesceWrites holds. The caller holds frameMu.
func (c *Conn) sendHeld() error {
	if c.writeErr != nil || len(c.wbuf) == 0 {
		c.held.Store(false)
		return c.writeErr
	}
	if len(c.wbuf) <= DefaultWriteBufferSize {
		c.largeWrite = false // what was held would have fit the default buffer
	}
	n, err := c.nc.Write(c.wbuf)
	return c.wrote(int64(n), err, true)
}

// Flush sends the messages that CoalesceWrites holds, if any. A cancelled
// ctx abandons the wait for other writers; once the write is under way, it
// fails the connection.
func (c *Conn) Flush(ctx context.Context) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.flushLocked(ctx)
}

// flushLocked is sendHeld with ctx able to cut it short. The caller holds
// frameMu.
func (c *Conn) flushLocked(ctx context.Context) error {
	if err := c.wctx.arm(ctx); err != nil {
		return err
	}
	return c.wctx.result(c.sendHeld())
}

// maskChunk is the size of the buffers a client masks large payloads in.
const maskChunk = 64 << 10

var maskPool = sync.Pool{New: func() any {
	b := make([]byte, 0, maskChunk)
	return &b
}}

// NextWriter starts a message of type typ and returns a writer for its
// payload; the message is sent in fragments as the writer's buffer fills and
// ends when the writer is closed. Other messages wait until then; control
// frames do not.
func (c *Conn) NextWriter(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if err := c.lockMessage(ctx); err != nil {
		return nil, err
	}
	c.streaming = true
	if c.codec != nil {
		c.compressing()
	}
	c.unlockFrame()
	if c.mw == nil {
		c.mw = &messageWriter{c: c}
	}
	w := c.mw
	w.ctx = ctx
	w.op = frame.OpBinary
	if typ == Text {
		w.op = frame.OpText
	}
	w.open = true
	w.rsv = 0
	w.zip = nil
	if c.codec != nil {
		w.rsv = frame.Rsv1
		w.zip = c.codec.writer(&w.raw)
	}
	w.raw.w = w
	if w.buf == nil {
		w.buf = make([]byte, 0, c.opts.WriteBufferSize)
	}
	return w, nil
}

type messageWriter struct {
	c    *Conn
	ctx  context.Context
	op   frame.Opcode // of the next frame: the message's type, then continuation
	rsv  byte
	open bool
	buf  []byte
	raw  fragmenter
	zip  io.WriteCloser
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if !w.open {
		return 0, errWriterClosed
	}
	if w.zip != nil {
		return w.zip.Write(p)
	}
	return w.raw.Write(p)
}

func (w *messageWriter) Close() error {
	if !w.open {
		return errWriterClosed
	}
	w.open = false
	defer w.c.endStream()
	if w.zip != nil {
		if err := w.zip.Close(); err != nil {
			return err
		}
	}
	return w.flush(true)
}

// endStream lets other data messages go, whether the stream ended well or
// not.
func (c *Conn) endStream() {
	c.lockFrame(context.Background())
	c.streaming = false
	c.unlockFrame()
}

func (w *messageWriter) flush(fin bool) error {
	c := w.c
	if err := c.lockFrame(w.ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	err := c.writeFrameContext(w.ctx, frame.Header{Fin: fin, Op: w.op, Rsv: w.rsv}, w.buf)
	w.buf = w.buf[:0]
	w.op, w.rsv = frame.OpContinuation, 0
	return err
}

// fragmenter buffers a message's (possibly compressed) payload and sends a
// fragment each time the buffer fills.
type fragmenter struct{ w *messageWriter }

func (f *fragmenter) Write(p []byte) (int, error) {
	w := f.w
	n := 0
	for len(p) > 0 {
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// ---- Control ----

// Ping sends a ping and waits for a pong. A reader must be running: pongs are
// received by ReadMessage or NextReader on another goroutine.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > frame.MaxControlPayload {
		return frame.ErrControlTooLong
	}
	pongs := c.pongChan()
	select {
	case <-pongs:
	default:
	}
	if err := c.writeControl(ctx, frame.OpPing, payload); err != nil {
		return err
	}
	select {
	case <-pongs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.final.Load()
	}
}

func (c *Conn) pongChan() chan struct{} {
	if ch := c.pongs.Load(); ch != nil {
		return *ch
	}
	ch := make(chan struct{}, 1)
	c.pongs.CompareAndSwap(nil, &ch)
	return *c.pongs.Load()
}

// keepalive runs on a timer: it pings a peer that has been silent for
// PingInterval, and fails one that has left that ping unanswered (sent
// nothing at all) for PongTimeout. Runs of the timer never overlap.
func (c *Conn) keepalive() {
	now := time.Now()
	last := c.lastRead.Load()
	if c.pingSent != 0 && last < c.pingSent {
		if wait := time.Duration(c.pingSent + int64(c.opts.PongTimeout) - now.UnixNano()); wait > 0 {
			c.keep.Load().Reset(wait)
			return
		}
		c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrPongTimeout})
		return
	}
	c.pingSent = 0
	if idle := now.Sub(time.Unix(0, last)); idle < c.opts.PingInterval {
		c.keep.Load().Reset(c.opts.PingInterval - idle)
		return
	}
	// A writer blocked on a peer that does not read holds frameMu: the
	// ping's wait for it counts against PongTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.PongTimeout)
	err := c.writeControl(ctx, frame.OpPing, nil)
	cancel()
	if isTimeout(err) {
		c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrPongTimeout})
		return
	}
	if err != nil {
		return
	}
	c.pingSent = now.UnixNano()
	c.keep.Load().Reset(max(c.opts.PongTimeout-time.Since(now), 0))
}

// ---- Closing ----

// Close sends a close frame with code and reason, waits for the peer's, and
// closes the connection, all within CloseTimeout whatever other goroutines
// are doing. It returns nil when the close handshake completed. A writer
// blocked on a peer that does not read fails with a timeout when that time
// is up, and Close then returns an error too: its close frame could not be
// sent. A reader running meanwhile returns the *CloseError. Close may be
// called from any goroutine, any number of times.
func (c *Conn) Close(code CloseCode, reason string) error {
	var err error
	c.closeOnce.Do(func() { err = c.close(code, reason) })
	if err != nil {
		return err
	}
	<-c.done
	return nil
}

func (c *Conn) close(code CloseCode, reason string) error {
	// One CloseTimeout bounds the whole close: the wait for other writers,
	// the close frame's write and the wait for the peer's.
	deadline := time.Now().Add(c.opts.CloseTimeout)
	if c.closeSent.CompareAndSwap(false, true) {
		var b [frame.MaxControlPayload]byte
		if err := c.writeClose(frame.AppendClose(b[:0], code, reason), deadline); err != nil {
			c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: err})
			return err
		}
	}
	timer := time.AfterFunc(time.Until(deadline), func() { c.nc.SetReadDeadline(aLongTimeAgo) })
	defer timer.Stop()
	if c.readMu.TryLock() {
		// No reader is running: drain until the peer's close.
		c.rctx.disarm()
		for c.final.Load() == nil {
			var err error
			if c.inMsg {
				_, err = io.Copy(io.Discard, &rawReader{c})
				if err == nil {
					err = c.endMessage()
				}
				if err != nil {
					c.readFailed(err)
				}
				continue
			}
			if err = c.beginMessage(); err != nil {
				c.readFailed(err)
			}
		}
		c.readMu.Unlock()
	} else {
		wait := time.NewTimer(time.Until(deadline))
		select {
		case <-c.done:
		case <-wait.C:
		}
		wait.Stop()
	}
	if ce := c.finish(&CloseError{Code: CloseAbnormal, Local: true, Err: ErrClosed}); ce.Local {
		return ce
	}
	return nil
}

// ---- Contexts ----

var aLongTimeAgo = time.Unix(1, 0)

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ctxWatch makes a context's cancellation cut a blocked read or write short,
// by moving the connection's deadline into the past. The registration is
// kept while the same context comes back, so that a loop passing one
// context to every call allocates nothing.
type ctxWatch struct {
	c     *Conn
	read  bool
	ctx   context.Context // armed, or nil
	keep  bool            // ctx may be compared, so kept across calls
	stop  func() bool
	fire  func()
	fired chan struct{}
}

func (w *ctxWatch) init(c *Conn, read bool) {
	w.c, w.read = c, read
}

// prepare makes what a registration needs, on first use: most connections
// never see a cancellable context.
func (w *ctxWatch) prepare() {
	w.fired = make(chan struct{}, 1)
	w.fire = func() {
		if w.read {
			w.c.nc.SetReadDeadline(aLongTimeAgo)
		} else {
			w.c.nc.SetWriteDeadline(aLongTimeAgo)
		}
		w.fired <- struct{}{}
	}
}

// arm prepares an operation under ctx; it fails if ctx is already done.
func (w *ctxWatch) arm(ctx context.Context) error {
	if w.ctx == nil && ctx.Done() == nil {
		return nil // the common case, kept small enough to inline
	}
	return w.armSlow(ctx)
}

func (w *ctxWatch) armSlow(ctx context.Context) error {
	if w.ctx != nil && w.keep && w.ctx == ctx {
		if err := ctx.Err(); err != nil {
			w.disarm()
			return err
		}
		return nil
	}
	w.disarm()
	if ctx.Done() == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.fire == nil {
		w.prepare()
	}
	w.ctx = ctx
	w.keep = reflect.TypeOf(ctx).Comparable()
	w.stop = context.AfterFunc(ctx, w.fire)
	return nil
}

// disarm drops the registration, restoring the user's deadline if the
// context fired.
func (w *ctxWatch) disarm() {
	if w.ctx == nil {
		return
	}
	if !w.stop() {
		<-w.fired
		if w.read {
			w.c.nc.SetReadDeadline(fromUnixNano(w.c.rdeadline.Load()))
		} else {
			w.c.nc.SetWriteDeadline(fromUnixNano(w.c.wdeadline.Load()))
		}
	}
	w.ctx, w.stop = nil, nil
}

// result ends an operation: if the context ended, its error replaces the
// deadline's.
func (w *ctxWatch) result(err error) error {
	if w.ctx == nil {
		return err
	}
	return w.resultSlow(err)
}

func (w *ctxWatch) resultSlow(err error) error {
	ctx := w.ctx
	if ctx.Err() == nil {
		if !w.keep {
			w.disarm()
		}
		return err
	}
	w.disarm()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return ctx.Err()
	}
	return err
}
