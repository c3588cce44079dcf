package conn

import (
	"context"

	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/handshake"
)

// DialOptions configure the client side of the opening handshake and the
// connection it makes.
type DialOptions struct {
	Options
	handshake.DialOptions
	// Compression offers permessage-deflate.
	Compression *deflate.Config
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL. ctx bounds the
// opening handshake only.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, error) {
	var do handshake.DialOptions
	var o *Options
	neg := &negotiation{}
	if opts != nil {
		do = opts.DialOptions
		o = &opts.Options
		neg.cfg = opts.Compression
	}
	neg.offer(&do)
	nc, res, err := handshake.Dial(ctx, url, &do)
	if err != nil {
		return nil, err
	}
	c := newConn(nc, Client, res.Buffered, o, neg.codec(false))
	c.subprotocol = res.Subprotocol
	return c, nil
}
