package conn

import (
	"context"
	"errors"
	"sync"

	"github.com/pushwire/pushwire/frame"
)

// ErrMessageType is returned for a message type that is neither Text nor
// Binary.
var ErrMessageType = errors.New("conn: message type is neither text nor binary")

// PreparedMessage is a message written to many connections, a broadcast's:
// it is compressed once for all the connections whose permessage-deflate
// compresses each message on its own with the same level and window (no
// context takeover), where WriteMessage would compress it once per
// connection. Connections with context takeover still compress it each,
// since their output depends on what they sent before. The payload must not
// change while the message is in use.
type PreparedMessage struct {
	typ     MessageType
	payload []byte

	mu     sync.Mutex
	zipped map[[2]int][]byte // by deflate.Compressor.Shared's key
}

// NewPreparedMessage prepares payload to be sent as a message of type typ.
func NewPreparedMessage(typ MessageType, payload []byte) (*PreparedMessage, error) {
	if typ != Text && typ != Binary {
		return nil, ErrMessageType
	}
	return &PreparedMessage{typ: typ, payload: payload}, nil
}

// Type returns the message's type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Payload returns the message's payload, shared: not to be modified.
func (pm *PreparedMessage) Payload() []byte { return pm.payload }

// WritePrepared sends each of pms as one message, in order, as
// WriteMessage would, but in as few system calls as the messages fit: a
// broadcast's writer hands over a subscriber's whole backlog at once. One
// deadline (ctx's, or Options.WriteTimeout) bounds them all; on an error,
// the messages before the failing one may have been sent.
func (c *Conn) WritePrepared(ctx context.Context, pms ...*PreparedMessage) error {
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	if err := c.wctx.arm(ctx); err != nil {
		return err
	}
	if len(pms) == 1 {
		return c.wctx.result(c.writePrepared(pms[0]))
	}
	return c.wctx.result(c.writeBatch(pms))
}

// writeBatch writes pms, holding the frames that fit in the write buffer
// until it is full or the batch ends. The caller holds frameMu.
func (c *Conn) writeBatch(pms []*PreparedMessage) error {
	size := 0
	for _, pm := range pms {
		size += len(pm.payload)
	}
	large := c.largeWrite
	if size > DefaultWriteBufferSize && len(c.wbuf) == 0 {
		c.largeWrite = true // writeBuf takes the large buffer
	}
	c.batching = true
	var err error
	for _, pm := range pms {
		if err = c.writePrepared(pm); err != nil {
			break
		}
	}
	c.batching = false
	// What is held goes out even after a failed compression: it was
	// accepted.
	if herr := c.sendHeld(); err == nil {
		err = herr
	}
	c.largeWrite = large
	return err
}

// writePrepared writes pm's frame. The caller holds frameMu.
func (c *Conn) writePrepared(pm *PreparedMessage) error {
	op := frame.OpBinary
	if pm.typ == Text {
		op = frame.OpText
	}
	if c.codec == nil || len(pm.payload) < c.codec.threshold {
		return c.writeFrame(frame.Header{Fin: true, Op: op}, pm.payload)
	}
	key, shared := c.codec.comp.Shared()
	if !shared {
		return c.compressFrame(op, pm.payload)
	}
	z, err := pm.compressed(c, key)
	if err != nil {
		return err
	}
	return c.writeFrame(frame.Header{Fin: true, Rsv: frame.Rsv1, Op: op}, z)
}

// compressed returns the payload compressed under key, compressing it with
// c's compressor the first time. The caller holds c's frameMu.
func (pm *PreparedMessage) compressed(c *Conn, key [2]int) ([]byte, error) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if z, ok := pm.zipped[key]; ok {
		return z, nil
	}
	c.compressing()
	z, err := c.codec.comp.Compress(nil, pm.payload)
	if err != nil {
		return nil, err
	}
	if pm.zipped == nil {
		pm.zipped = make(map[[2]int][]byte, 1)
	}
	pm.zipped[key] = z
	return z, nil
}
