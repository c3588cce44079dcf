package longpoll

import (
	"context"
	"fmt"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// DefaultUpgradeTimeout bounds the WebSocket attempt of DialFallback.
const DefaultUpgradeTimeout = 5 * time.Second

// FallbackOptions configure DialFallback.
type FallbackOptions struct {
	WebSocket *conn.DialOptions
	LongPoll  *DialOptions
	// UpgradeTimeout bounds the WebSocket attempt: a proxy that holds the
	// upgrade request should not hold the application. Default 5 s.
	UpgradeTimeout time.Duration
}

// DialFallback opens a WebSocket at wsURL and, if that fails (an answer
// other than 101, a proxy that strips Upgrade, no answer within the upgrade
// timeout), a long-polling session at lpURL, the prefix of a Handler. The
// connection is a *conn.Conn or a *Client; a type switch tells which. When
// both fail, the error holds both causes (errors.Is finds either).
func DialFallback(ctx context.Context, wsURL, lpURL string, opts *FallbackOptions) (conn.MessageConn, error) {
	if opts == nil {
		opts = &FallbackOptions{}
	}
	timeout := opts.UpgradeTimeout
	if timeout <= 0 {
		timeout = DefaultUpgradeTimeout
	}
	wsCtx, cancel := context.WithTimeout(ctx, timeout)
	c, err := conn.Dial(wsCtx, wsURL, opts.WebSocket)
	cancel()
	if err == nil {
		return c, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	lp, lpErr := Dial(ctx, lpURL, opts.LongPoll)
	if lpErr != nil {
		// Both: the WebSocket's failure is often the one that explains.
		return nil, fmt.Errorf("longpoll: no transport: websocket: %w; long polling: %w", err, lpErr)
	}
	return lp, nil
}
