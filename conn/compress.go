package conn

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/handshake"
)

var (
	errInflateTooBig = &frame.Error{Code: frame.CloseTooBig, Rule: "message inflates past the read limit"}
	errInflate       = &frame.Error{Code: frame.CloseInvalidPayload, Rule: "corrupt permessage-deflate data"}
)

// negotiation carries permessage-deflate through the opening handshake.
type negotiation struct {
	cfg     *deflate.Config
	offered deflate.Params
	agreed  *deflate.Agreement
}

// accept answers the client's offers.
func (n *negotiation) accept(offers []handshake.Extension) ([]handshake.Extension, error) {
	resp, a, ok := n.cfg.AcceptOffers(offers)
	if !ok {
		return nil, nil
	}
	n.agreed = &a
	return []handshake.Extension{resp}, nil
}

// offer adds our offer to a client's options and checks the answer.
func (n *negotiation) offer(do *handshake.DialOptions) {
	if n.cfg == nil {
		return
	}
	n.offered = n.cfg.Offer()
	do.Extensions = append(slices.Clone(do.Extensions), n.offered.Extension())
	check := do.CheckExtensions
	do.CheckExtensions = func(accepted []handshake.Extension) error {
		a, ok, err := n.cfg.VerifyAccepted(n.offered, accepted)
		if err != nil {
			return err
		}
		if ok {
			n.agreed = &a
		}
		if check != nil {
			return check(accepted)
		}
		return nil
	}
}

func (n *negotiation) codec(server bool) *codec {
	if n.agreed == nil {
		return nil
	}
	threshold := n.cfg.Threshold
	if threshold == 0 {
		threshold = deflate.DefaultThreshold
	}
	return &codec{
		comp:      deflate.NewCompressor(*n.agreed, server, n.cfg.Level),
		decomp:    deflate.NewDecompressor(*n.agreed, server),
		threshold: threshold,
		idleAfter: compressorIdle,
	}
}

// compressorIdle is how long the compressor goes unused before its state
// goes back to its pool. A variable for tests.
var compressorIdle = time.Second

// codec is a connection's compression state.
type codec struct {
	comp      *deflate.Compressor
	decomp    *deflate.Decompressor
	threshold int
	zin, zout []byte // compressed payloads, received and sent

	// idle releases the compressor once no message was compressed for
	// idleAfter; used says one was since the timer was armed. They, and
	// the timer's making, are under frameMu.
	idle      *time.Timer
	idleAfter time.Duration
	idleArmed bool
	used      bool
}

// compressing notes a message about to be compressed, arming the idle
// timer if it is not. The caller holds frameMu.
func (c *Conn) compressing() {
	cd := c.codec
	cd.used = true
	switch {
	case cd.idle == nil:
		cd.idle = time.AfterFunc(cd.idleAfter, c.compressorIdle)
	case !cd.idleArmed:
		cd.idle.Reset(cd.idleAfter)
	default:
		return
	}
	cd.idleArmed = true
}

// compressorIdle releases the compressor's state if no message was
// compressed since the timer was armed, else waits another period. It
// waits for frameMu: a writer at work is using the compressor.
func (c *Conn) compressorIdle() {
	c.frameMu.Lock()
	defer c.unlockFrame()
	cd := c.codec
	if cd.used || c.streaming {
		cd.used = false
		cd.idle.Reset(cd.idleAfter)
		return
	}
	cd.comp.Release()
	cd.zout = nil
	cd.idleArmed = false
}

func (cd *codec) reader(src io.Reader, limit int64) io.Reader {
	return cd.decomp.Reader(src, limit)
}

func (cd *codec) writer(dst io.Writer) io.WriteCloser { return cd.comp.Writer(dst) }

// readCompressed appends the rest of the current compressed message,
// inflated, to buf.
func (c *Conn) readCompressed(buf []byte) ([]byte, error) {
	cd := c.codec
	var err error
	// zin keeps what arrived if a deadline cuts the read short.
	if cd.zin, err = c.readFrames(cd.zin, false); err != nil {
		return buf, err
	}
	start := len(buf)
	buf, err = cd.decomp.Decompress(buf, cd.zin, c.opts.ReadLimit)
	cd.zin = cd.zin[:0]
	if cap(cd.zin) > 64<<10 {
		cd.zin = nil // do not hold a large message's buffer
	}
	if err != nil {
		return buf, inflateError(err)
	}
	if c.msgText && !c.utf8.Write(buf[start:]) {
		return buf, frame.ErrInvalidUTF8
	}
	return buf, c.endMessage()
}

// inflateError gives the inflater's own errors their close codes; those of
// its input, a broken rule or a failed read, pass as they are.
func inflateError(err error) error {
	switch {
	case errors.Is(err, deflate.ErrTooLarge):
		return errInflateTooBig
	case errors.Is(err, deflate.ErrCorrupt):
		return errInflate
	}
	return err
}

// writeCompressed sends p compressed, as one frame with RSV1 set. The caller
// holds frameMu, so that messages go out in the order they were compressed.
func (c *Conn) writeCompressed(ctx context.Context, op frame.Opcode, p []byte) error {
	if err := c.wctx.arm(ctx); err != nil {
		return err
	}
	return c.wctx.result(c.compressFrame(op, p))
}

// compressFrame compresses p and writes it as one frame. The caller holds
// frameMu.
func (c *Conn) compressFrame(op frame.Opcode, p []byte) error {
	cd := c.codec
	c.compressing()
	var err error
	if cd.zout, err = cd.comp.Compress(cd.zout[:0], p); err != nil {
		return err
	}
	err = c.writeFrame(frame.Header{Fin: true, Rsv: frame.Rsv1, Op: op}, cd.zout)
	if cap(cd.zout) > 64<<10 {
		cd.zout = nil
	}
	return err
}
