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

// WritePrepared sends pm as one message, as WriteMessage does.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	op := frame.OpBinary
	if pm.typ == Text {
		op = frame.OpText
	}
	if err := c.lockMessage(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	if c.codec == nil || len(pm.payload) < c.codec.threshold {
		return c.writeFrameContext(ctx, frame.Header{Fin: true, Op: op}, pm.payload)
	}
	key, shared := c.codec.comp.Shared()
	if !shared {
		return c.writeCompressed(ctx, op, pm.payload)
	}
	z, err := pm.compressed(c, key)
	if err != nil {
		return err
	}
	return c.writeFrameContext(ctx, frame.Header{Fin: true, Rsv: frame.Rsv1, Op: op}, z)
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
