package pushwire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/longpoll"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Topics are subscribed to at once, and again on every reconnection.
	Topics []string
	// Transport is "websocket" or "longpoll" to use only that one, or
	// "upgrade" for long polling that moves to a WebSocket once open (the
	// quickest first message, then WebSocket's cost). By default
	// WebSocket, and when it does not connect long polling, which moves to
	// a WebSocket when one works again.
	Transport string
	// Header is sent with the opening requests (Authorization, Cookie).
	Header http.Header
	// HTTPClient makes long polling's requests; default
	// http.DefaultClient.
	HTTPClient *http.Client
	// HTTP2, if set, opens WebSockets over HTTP/2 with it (RFC 8441; see
	// conn.DialOptions.HTTP2), falling back to HTTP/1.1.
	HTTP2 http.RoundTripper
	// MinBackoff and MaxBackoff bound the wait between reconnections,
	// which doubles from the first to the second with jitter (defaults
	// 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds one connection attempt on one transport (default
	// 5 s).
	DialTimeout time.Duration
	// Hold and PollInterval shape long polling (see longpoll.DialOptions):
	// a hold to propose, shorter than the server's behind a proxy that cuts
	// idle requests, or plain polling every PollInterval for networks that
	// kill held requests.
	Hold, PollInterval time.Duration
}

// EventKind says what an Event is.
type EventKind int

const (
	// EventPublication is a publication on a subscribed topic.
	EventPublication EventKind = iota
	// EventLost says that publications on Topic were lost: history no
	// longer covered the client's position when it resumed (or the server
	// restarted: a new epoch), or a slow client's were dropped. Refetch
	// the topic's state; publications go on from Position.
	EventLost
	// EventMessage is a message the server sent this client alone.
	EventMessage
	// EventError is a request of the client's the server refused
	// (Reason), such as a subscription.
	EventError
	// EventSubscribed says that the subscription to Topic is live: what
	// was missed until Position came before it, publications after it
	// follow. It comes again after each reconnection.
	EventSubscribed
)

// Event is what a Client receives.
type Event struct {
	Kind     EventKind
	Topic    string
	Position Position
	Type     MessageType
	Data     []byte
	Reason   string
}

// JSON decodes the event's data into v.
func (e Event) JSON(v any) error { return json.Unmarshal(e.Data, v) }

// Client is the push layer's Go client: it keeps a connection to a Server,
// reconnecting with backoff, falling back to long polling, and resuming
// every topic where it stopped, so that it receives each publication once
// and in order, or an EventLost.
type Client struct {
	base, wsURL string
	opts        ClientOptions

	mu        sync.Mutex
	topics    map[string]bool
	positions map[string]Position // of the last publication received
	mc        conn.MessageConn    // the connection, nil between two
	up        chan struct{}       // closed while connected
	transport string
	prefer    string // a transport for the next connection (SetTransport)

	events chan Event
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// ErrClientClosed is returned by a Client's calls after Close.
var ErrClientClosed = errors.New("pushwire: client closed")

// Dial connects to the Server at url (http:// or https://, the Server's
// prefix) and subscribes to opts.Topics. It returns once connected, or
// with the error of the first attempt; later connections are the Client's
// business until Close.
func Dial(ctx context.Context, url string, opts *ClientOptions) (*Client, error) {
	c := &Client{topics: make(map[string]bool), positions: make(map[string]Position), up: make(chan struct{}), events: make(chan Event, 256), done: make(chan struct{})}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.MinBackoff <= 0 {
		c.opts.MinBackoff = 100 * time.Millisecond
	}
	if c.opts.MaxBackoff <= 0 {
		c.opts.MaxBackoff = 5 * time.Second
	}
	if c.opts.DialTimeout <= 0 {
		c.opts.DialTimeout = 5 * time.Second
	}
	if err := checkTransport(c.opts.Transport); err != nil {
		return nil, err
	}
	c.base = strings.TrimSuffix(url, "/") + "/"
	switch {
	case strings.HasPrefix(c.base, "http://"):
		c.wsURL = "ws://" + strings.TrimPrefix(c.base, "http://")
	case strings.HasPrefix(c.base, "https://"):
		c.wsURL = "wss://" + strings.TrimPrefix(c.base, "https://")
	default:
		return nil, errors.New("pushwire: URL is not http:// or https://")
	}
	for _, t := range c.opts.Topics {
		c.topics[t] = true
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	mc, transport, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	go c.run(mc, transport)
	return c, nil
}

// connect opens a connection on the preferred transport, or the first that
// works.
func (c *Client) connect(ctx context.Context) (conn.MessageConn, string, error) {
	c.mu.Lock()
	want := c.opts.Transport
	if c.prefer != "" {
		want = c.prefer
	}
	c.mu.Unlock()
	var wsErr error
	if want == "" || want == "websocket" {
		dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
		ws, err := conn.Dial(dctx, c.wsURL, &conn.DialOptions{Subprotocols: []string{Subprotocol}, Header: c.opts.Header, HTTP2: c.opts.HTTP2})
		cancel()
		if err == nil {
			if ws.Subprotocol() != Subprotocol {
				ws.Close(conn.CloseProtocolError, "pushwire.v1 expected")
				return nil, "", errors.New("pushwire: the server does not speak " + Subprotocol)
			}
			return ws, "websocket", nil
		}
		if want == "websocket" {
			return nil, "", err
		}
		wsErr = err
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	lpOpts := &longpoll.DialOptions{
		HTTPClient: c.opts.HTTPClient, Header: c.opts.Header, Hold: c.opts.Hold, PollInterval: c.opts.PollInterval,
		Resume: c.resume,
	}
	if want == "" || want == "upgrade" {
		lpOpts.Upgrade = &conn.DialOptions{Header: c.opts.Header, HTTP2: c.opts.HTTP2}
	}
	lp, err := longpoll.Dial(dctx, c.base, lpOpts)
	if err != nil {
		return nil, "", errors.Join(wsErr, err)
	}
	return lp, "longpoll", nil
}

// run serves connections until Close: each subscribes to every topic from
// its position, then reads until it fails; then it waits and reconnects.
func (c *Client) run(mc conn.MessageConn, transport string) {
	defer close(c.done)
	backoff := c.opts.MinBackoff
	for {
		if mc != nil {
			backoff = c.opts.MinBackoff
			c.serve(mc, transport)
		}
		if c.ctx.Err() != nil {
			return
		}
		// Full jitter: clients that lost one server do not all come back
		// at once.
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
			return
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
		var err error
		mc, transport, err = c.connect(c.ctx)
		if err != nil {
			mc = nil
		}
	}
}

// subscriptions returns the messages that subscribe a new connection to
// every topic from its position in positions. The caller holds mu.
func (c *Client) subscriptions(positions map[string]Position) [][]byte {
	subs := make([][]byte, 0, len(c.topics))
	for t := range c.topics {
		p := positions[t]
		subs = append(subs, (&envelope{T: kindSub, Topic: t, Epoch: p.Epoch, Off: p.Offset}).encode())
	}
	return subs
}

// resume is long polling's DialOptions.Resume: a node that does not know
// the session opens one from the subscriptions, from the positions the
// client will have once it has taken what it received. Without the unread
// messages, a subscription confirmed but not yet taken would resume "from
// now", and lose what was published since it began.
func (c *Client) resume(unread [][]byte) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	positions := c.positions
	if len(unread) > 0 {
		positions = maps.Clone(c.positions)
		for _, msg := range unread {
			if e, err := decodeEnvelope(Text, msg); err == nil {
				c.advance(positions, e)
			}
		}
	}
	return c.subscriptions(positions)
}

// serve runs one connection until it fails or the client closes.
func (c *Client) serve(mc conn.MessageConn, transport string) {
	c.mu.Lock()
	c.mc, c.transport = mc, transport
	close(c.up)
	subs := c.subscriptions(c.positions)
	c.mu.Unlock()
	var readErr error
	defer func() {
		c.mu.Lock()
		c.mc, c.up = nil, make(chan struct{})
		c.mu.Unlock()
		if ce, ok := errors.AsType[*conn.CloseError](readErr); ok && !ce.Local {
			// The server closed: the connection has ended (a long-poll
			// client acknowledges the close on its own, which a close of
			// ours would race).
			return
		}
		mc.Close(conn.CloseNormal, "")
	}()
	for _, e := range subs {
		if err := mc.WriteMessage(c.ctx, Text, e); err != nil {
			return
		}
	}
	var buf []byte
	for {
		typ, msg, err := mc.ReadMessage(c.ctx, buf)
		if err != nil {
			readErr = err
			return
		}
		e, err := decodeEnvelope(typ, msg)
		if err != nil {
			mc.Close(conn.CloseUnsupportedData, "malformed envelope")
			return
		}
		if ev, ok := c.event(e); ok {
			select {
			case c.events <- ev:
			case <-c.ctx.Done():
				return
			}
		}
		buf = msg
	}
}

// event turns an envelope into an Event, dropping the publications already
// received.
func (c *Client) event(e *envelope) (Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := c.advance(c.positions, e)
	switch e.T {
	case kindPub:
		if !fresh {
			return Event{}, false // unsubscribed meanwhile, or a replay's overlap
		}
		typ, data := e.payload()
		return Event{Kind: EventPublication, Topic: e.Topic, Position: e.position(), Type: typ, Data: bytesClone(data)}, true
	case kindSub:
		return Event{Kind: EventSubscribed, Topic: e.Topic, Position: e.position()}, true
	case kindLost:
		return Event{Kind: EventLost, Topic: e.Topic, Position: e.position(), Reason: e.Reason}, true
	case kindMsg:
		typ, data := e.payload()
		return Event{Kind: EventMessage, Type: typ, Data: bytesClone(data)}, true
	case kindErr:
		return Event{Kind: EventError, Topic: e.Topic, Reason: e.Reason}, true
	}
	return Event{}, false
}

// advance moves positions past e, and reports whether e is a publication
// not received before on a subscribed topic. The caller holds mu.
func (c *Client) advance(positions map[string]Position, e *envelope) bool {
	switch e.T {
	case kindPub:
		last := positions[e.Topic]
		if !c.topics[e.Topic] || last.Epoch == e.Epoch && e.Off <= last.Offset {
			return false
		}
		positions[e.Topic] = e.position()
		return true
	case kindSub:
		if p := positions[e.Topic]; p == (Position{}) || p.Epoch != e.Epoch {
			positions[e.Topic] = e.position()
		}
	case kindLost:
		if e.Epoch != "" {
			positions[e.Topic] = e.position()
		}
	}
	return false
}

func bytesClone(b []byte) []byte { return append([]byte{}, b...) }

// Next returns the next event, waiting for it within ctx.
func (c *Client) Next(ctx context.Context) (Event, error) {
	select {
	case ev := <-c.events:
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	case <-c.done:
		return Event{}, ErrClientClosed
	}
}

// Subscribe subscribes to topic, now and on every reconnection.
func (c *Client) Subscribe(ctx context.Context, topic string) error {
	c.mu.Lock()
	c.topics[topic] = true
	p := c.positions[topic]
	c.mu.Unlock()
	return c.write(ctx, &envelope{T: kindSub, Topic: topic, Epoch: p.Epoch, Off: p.Offset})
}

// Unsubscribe ends the subscription to topic.
func (c *Client) Unsubscribe(ctx context.Context, topic string) error {
	c.mu.Lock()
	delete(c.topics, topic)
	delete(c.positions, topic)
	c.mu.Unlock()
	return c.write(ctx, &envelope{T: kindUnsub, Topic: topic})
}

// Send sends a message to the server (its OnMessage), waiting within ctx
// for a connection if the client is between two.
func (c *Client) Send(ctx context.Context, typ MessageType, data []byte) error {
	if typ != Text && typ != Binary {
		return conn.ErrMessageType
	}
	e := &envelope{T: kindMsg}
	e.setPayload(typ, data)
	return c.write(ctx, e)
}

func (c *Client) write(ctx context.Context, e *envelope) error {
	for {
		c.mu.Lock()
		mc, up := c.mc, c.up
		c.mu.Unlock()
		if mc != nil {
			return mc.WriteMessage(ctx, Text, e.encode())
		}
		select {
		case <-up:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClientClosed
		}
	}
}

// Transport returns the transport of the current connection, "" between
// two: "websocket", or "longpoll" until the session moved to a WebSocket.
func (c *Client) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mc == nil {
		return ""
	}
	if lp, ok := c.mc.(*longpoll.Client); ok && lp.Upgraded() {
		return "websocket"
	}
	return c.transport
}

// SetTransport sets the transport of the next connections (as
// ClientOptions.Transport); Drop makes the next one now.
func (c *Client) SetTransport(t string) error {
	if err := checkTransport(t); err != nil {
		return err
	}
	c.mu.Lock()
	c.prefer = t
	c.mu.Unlock()
	return nil
}

func checkTransport(t string) error {
	switch t {
	case "", "websocket", "longpoll", "upgrade":
		return nil
	}
	return fmt.Errorf("pushwire: unknown transport %q", t)
}

// Drop drops the current connection, as a network failure would; the
// client reconnects and resumes.
func (c *Client) Drop() {
	c.mu.Lock()
	mc := c.mc
	c.mu.Unlock()
	if mc != nil {
		if ws, ok := mc.(*conn.Conn); ok {
			ws.NetConn().Close() // no close handshake: a failure
			return
		}
		mc.Close(conn.CloseGoingAway, "dropped")
	}
}

// Close closes the client.
func (c *Client) Close() error {
	c.cancel()
	<-c.done
	return nil
}
