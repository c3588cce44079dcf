package conn

import (
	crand "crypto/rand"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/utf8check"
)

// Conn is a WebSocket connection. Any number of goroutines may write to it at
// once; one goroutine at a time may read from it.
//
// Fields are ordered to leave no padding: the Conn fits the allocator's
// 640-byte class, a large share of an idle connection's memory.
type Conn struct {
	nc    net.Conn
	opts  Options
	codec *codec // nil when no compression was negotiated
	// subprotocol is the one the opening handshake agreed on, or "".
	subprotocol string

	// Reader state, guarded by readMu, which serialises readers and
	// Close's own draining.
	readMu      sync.Mutex
	sock        *socketReader // reads through the raw socket, or nil
	rbuf        []byte        // nil while idle, if sock is set
	r, w        int           // rbuf[r:w] holds received bytes not yet consumed
	hdr         frame.Header  // the current data frame
	left        int64         // payload bytes of hdr not yet read
	maskPos     int32         // 0-3: where in the key the payload's next byte is
	check       frame.Checker
	utf8        utf8check.Validator
	frames      int32 // of the current message, at most MaxFragments
	inMsg       bool  // a data message has begun and not ended
	msgText     bool
	msgZip      bool
	largeRead   bool // reads need the large buffer (see sizeRead)
	msgSize     int64
	partial     []byte     // message bytes read before a deadline cut ReadMessage short
	pong        chan error // to the pong goroutine, while it runs (see answerPing)
	pongPayload []byte
	mr          *messageReader // made by the first NextReader

	// Writer state, guarded by frameMu, which admits one frame at a time;
	// a writer that must wait for it waits on frameFree too, so that a
	// context can abandon the wait. While a streamed message is open
	// (streaming), other data messages wait for its end; control frames
	// interleave with its fragments. The reader takes frameMu only with
	// TryLock, never waiting behind a writer: to give wbuf back to its pool
	// while the connection is idle (releaseBuffers), and to send frames
	// that CoalesceWrites holds (sendHeldNow).
	frameMu    sync.Mutex
	frameFree  lazyChan    // tokens for frameMu's waiters, made by the first
	streaming  bool        // under frameMu
	largeWrite bool        // held frames filled wbuf: the next one is large
	batching   bool        // WritePrepared holds its frames in wbuf
	server     bool        // our role, set once (here, where a byte was free)
	closeSent  atomic.Bool // a close frame is out or on its way; any side reads it
	readerIdle atomic.Bool // the reader waits on an idle socket, its buffers released
	wbuf       []byte
	vec        *writeVec     // ncWritev's, made by the first
	sockw      *socketWriter // writes through the raw socket, or nil
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

	// How the connection ends, set by whichever goroutine gets there.
	final     atomic.Pointer[CloseError] // how the connection ended; set once
	done      lazyChan                   // closed once reading has ended (peer's close or failure)
	doneOnce  sync.Once
	closeOnce sync.Once

	// Pings and the keepalive, which runs on its own timer.
	pongs lazyChan   // made by the first Ping; signalled by the reader on each pong
	ka    *keepAlive // with PingInterval only; set once, by newConn
}

// New makes a Conn of the given role over nc, whose opening handshake is
// complete. buffered holds bytes already read from nc past the handshake.
func New(nc net.Conn, role Role, buffered []byte, opts *Options) *Conn {
	return newConn(nc, role, buffered, opts, nil)
}

func newConn(nc net.Conn, role Role, buffered []byte, opts *Options, cd *codec) *Conn {
	c := &Conn{
		nc:     nc,
		server: role == Server,
		opts:   opts.withDefaults(),
		codec:  cd,
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
		c.sock = new(socketReader)
		c.sock.init(c, rc)
		c.sockw = newSocketWriter(c, rc)
		c.wctx.lazy = c.sockw != nil
	}
	if !c.server {
		var seed [32]byte
		crand.Read(seed[:])
		c.rng = rand.NewChaCha8(seed)
	}
	if c.opts.PingInterval > 0 {
		c.ka = new(keepAlive)
		c.ka.lastRead.Store(time.Now().UnixNano())
		// Stored before it can fire: keepalive reschedules it.
		c.ka.timer = time.AfterFunc(time.Hour, c.keepalive)
		c.ka.timer.Reset(c.opts.PingInterval)
	}
	return c
}

// keepAlive is the keepalive's state, apart so that a Conn without one
// does not carry it.
type keepAlive struct {
	timer    *time.Timer
	lastRead atomic.Int64 // unix nanoseconds of the last frame received
	pingSent int64        // unix nanoseconds of the outstanding ping, 0 if none; the timer's own
}

// received notes that a frame arrived, for the keepalive. It inlines: the
// read paths call it on every frame.
func (c *Conn) received() {
	if c.ka != nil {
		c.ka.touch()
	}
}

func (ka *keepAlive) touch() { ka.lastRead.Store(time.Now().UnixNano()) }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// LocalAddr returns the local network address of the underlying
// connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the peer's network address as the underlying
// connection sees it: behind a proxy, the proxy's.
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

// lazyChan is a channel made when first needed: most connections never
// wait on theirs, and an idle one should not hold channels (96 bytes
// each) for it.
type lazyChan struct{ p atomic.Pointer[chan struct{}] }

// get returns the channel, making it with the given buffer if there is
// none yet.
func (l *lazyChan) get(buffer int) chan struct{} {
	if ch := l.p.Load(); ch != nil {
		return *ch
	}
	ch := make(chan struct{}, buffer)
	if l.p.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *l.p.Load()
}

// signal leaves a token in the channel, if there is one and it has room.
func (l *lazyChan) signal() {
	if ch := l.p.Load(); ch != nil {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}
