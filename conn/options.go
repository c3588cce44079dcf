package conn

import (
	"math"
	"time"
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
	// WriteTimeout, if set, bounds each write: a frame not on its way to
	// the peer within it fails the write with a timeout (and the
	// connection, if part of the frame went out). Cheaper than a
	// context.WithTimeout per call, though that costs no allocation here
	// either: a context's deadline moves the socket's deadline, and the
	// context is watched for cancellation only when a write must wait.
	WriteTimeout time.Duration
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
	d.MaxFragments = min(d.MaxFragments, math.MaxInt32) // a Conn counts them in 32 bits
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

// Role tells which end of the connection this side is.
type Role uint8

// The two roles.
const (
	Client Role = iota
	Server
)

// String returns "client" or "server".
func (r Role) String() string {
	if r == Server {
		return "server"
	}
	return "client"
}
