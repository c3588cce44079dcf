package pushwire

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"expvar"
	"net/http"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/longpoll"
)

// SlowPolicy is what a Server does with a session whose outbound queue is
// full: its client reads slower than the topics it wants are published.
type SlowPolicy int

const (
	// Disconnect closes the session with ClosePolicyViolation (1008) and
	// the reason "slow consumer": a client that resumes catches up from
	// history, the others are not held back.
	Disconnect SlowPolicy = iota
	// DropOldest drops the oldest queued publications and tells the client
	// which topics lost some, with a "lost" envelope.
	DropOldest
)

// Options configure a Server. The zero value of each field selects its
// default.
type Options struct {
	// Broker carries publications and keeps history; default a
	// MemoryBroker with History.
	Broker  Broker
	History History
	// Authenticate runs on each opening request (the WebSocket upgrade,
	// the long-poll open), before anything is upgraded or opened. Its value
	// is the session's (Session.Value). An *HTTPError refuses the request
	// with its status; another error with 403.
	Authenticate func(r *http.Request) (any, error)
	// CanSubscribe decides the subscriptions clients ask for; nil allows
	// every topic. Subscriptions the server makes (Session.Subscribe) do not
	// ask it.
	CanSubscribe func(s *Session, topic string) error
	// The endpoint: OnOpen when a session opens, OnMessage for each message
	// a client sends (Client.Send, or any message of a client that speaks
	// no pushwire.v1), OnClose when it ends, with the reason. They run on
	// the session's reading goroutine.
	OnOpen    func(s *Session)
	OnMessage func(s *Session, typ MessageType, data []byte)
	OnClose   func(s *Session, err error)
	// OnRefuse is told of each opening request refused, and why: by the
	// origin policy (errors.Is(err, handshake.ErrOrigin)), Authenticate, or
	// the WebSocket handshake. The client sees only a status.
	OnRefuse func(r *http.Request, err error)
	// MaxQueue and MaxQueueBytes bound each session's outbound queue
	// (default 1024 messages, 1 MiB); SlowConsumer says what happens to a
	// session that fills it.
	MaxQueue      int
	MaxQueueBytes int
	SlowConsumer  SlowPolicy
	// MaxTopics bounds the topics a session subscribes to (default 128),
	// MaxTopicLength a topic's name in bytes (default 256).
	MaxTopics      int
	MaxTopicLength int
	// WriteTimeout bounds each write to a client (default 10 s): a client
	// that takes no data for that long is closed.
	WriteTimeout time.Duration
	// WebSocket configures the WebSocket upgrade (origins, compression);
	// LongPoll the long-polling transport.
	WebSocket *conn.AcceptOptions
	LongPoll  *longpoll.Options
}

// The defaults of Options.
const (
	DefaultMaxQueue       = 1024
	DefaultMaxQueueBytes  = 1 << 20
	DefaultMaxTopics      = 128
	DefaultMaxTopicLength = 256
	DefaultWriteTimeout   = 10 * time.Second
)

// HTTPError refuses an opening request with Status (from Authenticate).
type HTTPError struct {
	Status int
	Err    error
}

// Error returns the status text and the cause.
func (e *HTTPError) Error() string { return http.StatusText(e.Status) + ": " + e.Err.Error() }

// StatusCode returns Status.
func (e *HTTPError) StatusCode() int { return e.Status }

// statusOf is the status that refuses a request for err.
func statusOf(err error) int {
	if he, ok := errors.AsType[*HTTPError](err); ok {
		return he.Status
	}
	return http.StatusForbidden
}

// Unwrap returns the cause.
func (e *HTTPError) Unwrap() error { return e.Err }

// ErrShutdown is returned by Publish and the like once Shutdown has begun.
var ErrShutdown = errors.New("pushwire: server shutting down")

// Server is the push layer's endpoint: an http.Handler that serves, under
// one prefix, WebSocket (upgrade requests), long polling (its open, poll and
// send requests, and client.js) and the JavaScript client (pushwire.js).
type Server struct {
	opts   Options
	broker Broker
	lp     *longpoll.Handler
	ws     conn.AcceptOptions

	mu       sync.Mutex
	topics   map[string]*topic
	sessions map[*Session]struct{}
	closing  bool
	wg       sync.WaitGroup // sessions' goroutines, and the long-poll accept loop

	stats   counters
	writers writerPool
}

//go:embed pushwire.js
var clientJS []byte

// NewServer returns a Server; it starts serving long polling at once.
func NewServer(opts Options) *Server {
	if opts.Broker == nil {
		opts.Broker = NewMemoryBroker(opts.History)
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = DefaultMaxQueue
	}
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if opts.MaxTopics <= 0 {
		opts.MaxTopics = DefaultMaxTopics
	}
	if opts.MaxTopicLength <= 0 {
		opts.MaxTopicLength = DefaultMaxTopicLength
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	s := &Server{
		writers:  writerPool{size: runtime.GOMAXPROCS(0)},
		opts:     opts,
		broker:   opts.Broker,
		topics:   make(map[string]*topic),
		sessions: make(map[*Session]struct{}),
	}
	if opts.WebSocket != nil {
		s.ws = *opts.WebSocket
	}
	s.ws.Subprotocols = append([]string{Subprotocol}, s.ws.Subprotocols...)
	s.ws.WriteTimeout = opts.WriteTimeout
	lpOpts := longpoll.Options{}
	if opts.LongPoll != nil {
		lpOpts = *opts.LongPoll
	}
	if opts.Authenticate != nil {
		lpOpts.Open = opts.Authenticate
	}
	if opts.OnRefuse != nil {
		lpOpts.OnRefuse = opts.OnRefuse
	}
	// Every long-polling client of ours can resume from its positions: a
	// poll that reaches a node that does not know its session is served.
	lpOpts.Adopt = true
	if lpOpts.Upgrade == nil {
		// Long-polling sessions may move to a WebSocket like the server's
		// own, whose subprotocol they do not speak.
		up := s.ws
		up.Subprotocols = nil
		lpOpts.Upgrade = &up
	}
	s.lp = longpoll.NewHandler(&lpOpts)
	s.wg.Go(s.acceptLongPoll)
	return s
}

// ServeHTTP serves the WebSocket upgrade, long polling and pushwire.js.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := path.Base(r.URL.Path)
	if base == "pushwire.js" {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(clientJS)
		return
	}
	isWS := (strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || handshake.IsHTTP2(r)) && base != "upgrade"
	opening := isWS || base == "open"
	if !opening {
		s.lp.ServeHTTP(w, r) // poll, send, client.js: the session is known
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, ErrShutdown.Error(), http.StatusServiceUnavailable)
		return
	}
	if !isWS {
		s.lp.ServeHTTP(w, r) // longpoll.Options.Open authenticates
		return
	}
	var value any
	if s.opts.Authenticate != nil {
		v, err := s.opts.Authenticate(r)
		if err != nil {
			s.refused(r, err)
			http.Error(w, "pushwire: "+err.Error(), statusOf(err))
			return
		}
		value = v
	}
	c, err := conn.Accept(w, r, &s.ws)
	if err != nil {
		s.refused(r, err)
		return // answered
	}
	sess := s.newSession(c, c, "websocket", c.Subprotocol() == Subprotocol, value)
	if sess == nil {
		c.Close(conn.CloseGoingAway, ErrShutdown.Error())
		return
	}
	if r.ProtoMajor == 2 {
		// The WebSocket is this request's stream, which ends when the
		// handler returns.
		sess.run()
		c.Close(conn.CloseNormal, "")
		return
	}
	// Served on a goroutine of its own, so that net/http keeps nothing for
	// the request while the session lasts.
	go sess.run()
}

func (s *Server) refused(r *http.Request, err error) {
	if s.opts.OnRefuse != nil {
		s.opts.OnRefuse(r, err)
	}
}

// acceptLongPoll turns long-poll sessions into Sessions. They all speak
// pushwire.v1: only pushwire's own clients open them.
func (s *Server) acceptLongPoll() {
	for {
		ls, err := s.lp.Accept(context.Background())
		if err != nil {
			return
		}
		sess := s.newSession(ls, nil, "longpoll", true, ls.Value())
		if sess == nil {
			ls.Close(conn.CloseGoingAway, ErrShutdown.Error())
			continue
		}
		go sess.run()
	}
}

// Publish publishes a message on topic to every subscriber, on every node
// of the broker, and returns its position. A Text message must be UTF-8
// (ErrNotUTF8); the topic a name of at most Options.MaxTopicLength bytes of
// printable UTF-8 (ErrTopic).
func (s *Server) Publish(ctx context.Context, topic string, typ MessageType, payload []byte) (Position, error) {
	if typ != Text && typ != Binary {
		return Position{}, conn.ErrMessageType
	}
	if typ == Text && !utf8.Valid(payload) {
		return Position{}, ErrNotUTF8
	}
	if err := s.checkTopic(topic); err != nil {
		return Position{}, err
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return Position{}, ErrShutdown
	}
	pos, err := s.broker.Publish(ctx, topic, typ, payload)
	if err == nil {
		s.stats.published.Add(1)
	}
	return pos, err
}

// PublishJSON publishes v encoded as JSON, as a text message.
func (s *Server) PublishJSON(ctx context.Context, topic string, v any) (Position, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Position{}, err
	}
	return s.Publish(ctx, topic, Text, b)
}

// ErrNotUTF8 is returned by Publish and Send for a Text message that is
// not UTF-8, which a WebSocket client would fail the connection for.
var ErrNotUTF8 = errors.New("pushwire: text message is not UTF-8")

// ErrTopic is returned for a topic name that is empty, too long, or not
// UTF-8.
var ErrTopic = errors.New("pushwire: invalid topic name")

func (s *Server) checkTopic(name string) error {
	if name == "" || len(name) > s.opts.MaxTopicLength || !validText(name) {
		return ErrTopic
	}
	return nil
}

// Shutdown stops taking new sessions and publications, closes every
// session with CloseGoingAway (1001) and a reason its client reads, waits
// for them to end, bounded by ctx, and closes the broker. net/http's own
// Shutdown does not wait for upgraded connections: call this first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	sessions := make([]*Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	topics := make([]*topic, 0, len(s.topics))
	for _, t := range s.topics {
		topics = append(topics, t)
	}
	clear(s.topics)
	s.mu.Unlock()
	// Publications stop here, so that what the sessions have queued is
	// finite: their clients resume what follows elsewhere, from history.
	for _, t := range topics {
		<-t.ready
		if t.cancel != nil {
			t.cancel()
		}
	}
	var closing sync.WaitGroup
	for _, sess := range sessions {
		closing.Go(func() { sess.Close(conn.CloseGoingAway, "server shutting down") })
	}
	done := make(chan struct{})
	go func() {
		closing.Wait()
		s.lp.Close()
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.broker.Close()
	return err
}

// Stats is a snapshot of a Server's counters.
type Stats struct {
	// Sessions open, by transport ("websocket", "longpoll").
	Sessions map[string]int
	// Publications published through this Server.
	Published uint64
	// Messages and bytes sent to clients (publications, replays, direct
	// messages) and received from them.
	MessagesOut, BytesOut, MessagesIn, BytesIn uint64
	// QueueDrops counts publications dropped by DropOldest;
	// SlowDisconnects sessions closed by Disconnect.
	QueueDrops, SlowDisconnects uint64
	// Recoveries counts resumes whose history covered the gap;
	// RecoveriesFailed those told their publications were lost.
	Recoveries, RecoveriesFailed uint64
}

type counters struct {
	published, msgsOut, bytesOut, msgsIn, bytesIn atomic.Uint64
	drops, slow, recovered, recoveryFailed        atomic.Uint64
}

// Stats returns the Server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Sessions:         map[string]int{"websocket": 0, "longpoll": 0},
		Published:        s.stats.published.Load(),
		MessagesOut:      s.stats.msgsOut.Load(),
		BytesOut:         s.stats.bytesOut.Load(),
		MessagesIn:       s.stats.msgsIn.Load(),
		BytesIn:          s.stats.bytesIn.Load(),
		QueueDrops:       s.stats.drops.Load(),
		SlowDisconnects:  s.stats.slow.Load(),
		Recoveries:       s.stats.recovered.Load(),
		RecoveriesFailed: s.stats.recoveryFailed.Load(),
	}
	s.mu.Lock()
	for sess := range s.sessions {
		st.Sessions[sess.transport]++
	}
	s.mu.Unlock()
	return st
}

// Expvar returns the Server's Stats as an expvar.Var, for
// expvar.Publish("pushwire", srv.Expvar()).
func (s *Server) Expvar() expvar.Var {
	return expvar.Func(func() any { return s.Stats() })
}

// validText reports whether a topic name is UTF-8 without control
// characters.
func validText(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
