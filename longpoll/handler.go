package longpoll

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
)

// Defaults of Options.
const (
	DefaultHold     = 20 * time.Second
	DefaultGrace    = 30 * time.Second
	DefaultMaxBody  = 1 << 20
	DefaultMaxBatch = 256 << 10
)

// Options configure a Handler.
type Options struct {
	// Hold is the longest a poll waits for a message before it is answered
	// empty; under the idle timeouts of common proxies. A client may
	// propose a shorter hold when it opens, or plain polling. Default 20 s.
	Hold time.Duration
	// Grace is how long a session lives without a poll before it expires;
	// it bounds a plain-polling client's interval to half of it. Default
	// 30 s.
	Grace time.Duration
	// MaxQueue and MaxQueueBytes bound each direction of a session.
	MaxQueue, MaxQueueBytes int
	// FailWhenFull makes WriteMessage fail with ErrQueueFull instead of
	// waiting when the queue is full.
	FailWhenFull bool
	// MaxBody bounds a send request's body (413 past it). Default 1 MiB.
	MaxBody int64
	// The origin policy, as for WebSocket: same origin by default, plus
	// OriginPatterns (path.Match on the origin's host), the host forwarded
	// by TrustedProxies (see handshake.OriginPolicy), or CheckOrigin.
	OriginPatterns []string
	TrustedProxies []netip.Prefix
	CheckOrigin    func(r *http.Request) bool
	// CORS lets pages of the origins the policy allows, other than the
	// handler's own, use it: their requests are answered with
	// Access-Control-Allow-Origin and their preflights (OPTIONS) are
	// answered. Without it no CORS header is ever sent.
	CORS bool
	// Open, if set, runs on each open request before a session is made:
	// its value is the session's (Session.Value); an error refuses the
	// request with 403, or with the status of an error that has a
	// StatusCode() int method.
	Open func(r *http.Request) (any, error)
	// Upgrade, if set, lets a session move to a WebSocket at
	// <prefix>/upgrade (see the package's protocol), with these options;
	// the origin policy is the handler's, and ReadLimit follows MaxBody.
	Upgrade *conn.AcceptOptions
	// Adopt lets a poll or send for a session this handler does not know
	// open one in its place, from the records its Pushwire-Resume header
	// carries (see Roaming in the package's protocol): a client behind a
	// balancer without affinity is served by whichever node its request
	// reaches. Open runs on such a request as on an open.
	Adopt bool
	// OnRefuse, if set, is told of each request refused by the origin
	// policy (an error that is handshake.ErrOrigin) or by Open (Open's
	// error): the client sees only a status, the server nothing else.
	OnRefuse func(r *http.Request, err error)
}

// Handler serves the long-polling transport under a path prefix: POST
// <prefix>/open, GET <prefix>/poll, POST <prefix>/send, and the JavaScript
// client at GET <prefix>/client.js. Sessions reach the application through
// Accept.
type Handler struct {
	opts     Options
	mu       sync.Mutex
	sessions map[string]*Session
	accepted chan *Session
	done     chan struct{}
	once     sync.Once
}

// NewHandler returns a Handler; opts may be nil.
func NewHandler(opts *Options) *Handler {
	h := &Handler{sessions: map[string]*Session{}, accepted: make(chan *Session), done: make(chan struct{})}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Hold <= 0 {
		h.opts.Hold = DefaultHold
	}
	if h.opts.Grace <= 0 {
		h.opts.Grace = DefaultGrace
	}
	if h.opts.MaxBody <= 0 {
		h.opts.MaxBody = DefaultMaxBody
	}
	return h
}

// Accept returns the next new session.
func (h *Handler) Accept(ctx context.Context) (*Session, error) {
	select {
	case s := <-h.accepted:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.done:
		return nil, conn.ErrClosed
	}
}

// Close ends every session and stops accepting new ones.
func (h *Handler) Close() error {
	h.once.Do(func() { close(h.done) })
	h.mu.Lock()
	sessions := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		s.expire(&conn.CloseError{Code: conn.CloseGoingAway, Reason: "server closing", Local: true})
	}
	return nil
}

//go:embed client.js
var clientJS []byte

// ServeHTTP serves open, poll, send and client.js; the last element of the
// path names the operation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// No answer, client.js and error texts included, may be read as
	// another type than it says.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	op := path.Base(r.URL.Path)
	if op == "client.js" {
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(clientJS)
		return
	}
	if err := h.checkOrigin(r); err != nil {
		h.refuse(w, r, http.StatusForbidden, err)
		return
	}
	if h.opts.CORS && r.Header.Get("Origin") != "" {
		// Cache-Control and Content-Type are readable anyway; the ack is not.
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Expose-Headers", "Pushwire-Ack, Pushwire-Session")
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Pushwire-Resume, Pushwire-Left")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	switch op {
	case "open":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		h.open(w, r)
	case "poll", "send", "upgrade":
		if op == "upgrade" && h.opts.Upgrade == nil {
			http.NotFound(w, r)
			return
		}
		want := http.MethodGet
		switch {
		case op == "send":
			want = http.MethodPost
		case op == "upgrade" && r.ProtoMajor == 2:
			want = http.MethodConnect // RFC 8441
		}
		if r.Method != want {
			methodNotAllowed(w, want)
			return
		}
		h.forget(r.Header.Get("Pushwire-Left"))
		s, ack, ok := h.session(w, r)
		if !ok {
			return // answered
		}
		adopted := false
		if s == nil && op != "upgrade" && h.opts.Adopt && r.Header.Get("Pushwire-Resume") != "" {
			if s = h.adopt(w, r); s == nil {
				return // answered
			}
			w.Header().Set("Pushwire-Session", s.id)
			ack, adopted = 0, true // the client's ack counts another session's
		}
		if s == nil {
			http.Error(w, "longpoll: no such session", http.StatusNotFound)
			return
		}
		switch op {
		case "poll":
			s.poll(w, r, ack)
		case "send":
			s.send(w, r, ack, adopted)
		default:
			s.upgrade(w, r, ack)
		}
	default:
		http.NotFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "longpoll: method not allowed", http.StatusMethodNotAllowed)
}

// session finds the request's session and its ack: a nil Session when
// there is no such session (an id that never existed and one that expired
// alike), for the caller to answer; not ok when it answered r (a bad ack).
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*Session, uint64, bool) {
	q := r.URL.Query()
	ack, err := strconv.ParseUint(q.Get("ack"), 10, 64)
	if err != nil {
		http.Error(w, "longpoll: bad ack", http.StatusBadRequest)
		return nil, 0, false
	}
	id := q.Get("id")
	if id == "" {
		id = r.Header.Get("Pushwire-Session")
	}
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	return s, ack, true
}

type openReply struct {
	ID       string `json:"id"`
	Hold     int64  `json:"hold"`     // milliseconds, as granted
	Interval int64  `json:"interval"` // milliseconds between polls, 0 but with hold 0
	Grace    int64  `json:"grace"`    // milliseconds
	MaxBody  int64  `json:"maxBody"`  // bytes of a send's body
}

// Why an open request's proposal is refused.
var (
	errHoldSyntax     = errors.New("longpoll: bad hold: want milliseconds, 0 or more")
	errIntervalSyntax = errors.New("longpoll: bad interval: want milliseconds, 1 or more")
	errNoInterval     = errors.New("longpoll: hold=0 needs an interval")
	errIntervalHold   = errors.New("longpoll: an interval goes only with hold=0")
)

// grant answers the proposal of an open request's query: hold=ms, at most
// Options.Hold (a larger one is clamped to it), and with hold=0, plain
// polling, interval=ms, at most half the grace period so that a poll lost
// on the way still leaves time for another. Without hold the client takes
// the handler's. A proposal that is not a number, or negative, is an error.
func (h *Handler) grant(q url.Values) (hold, interval time.Duration, err error) {
	if !q.Has("hold") {
		if q.Has("interval") {
			return 0, 0, errIntervalHold
		}
		return h.opts.Hold, 0, nil
	}
	ms, err := millis(q.Get("hold"))
	if err != nil {
		return 0, 0, errHoldSyntax
	}
	if ms > 0 {
		if q.Has("interval") {
			return 0, 0, errIntervalHold
		}
		return clamp(ms, h.opts.Hold), 0, nil
	}
	if !q.Has("interval") {
		return 0, 0, errNoInterval
	}
	ms, err = millis(q.Get("interval"))
	if err != nil || ms == 0 {
		return 0, 0, errIntervalSyntax
	}
	return 0, clamp(ms, h.opts.Grace/2), nil
}

// millis parses a count of milliseconds; one too large for 64 bits is the
// largest there is.
func millis(s string) (uint64, error) {
	ms, err := strconv.ParseUint(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxUint64, nil
	}
	return ms, err
}

// clamp returns ms milliseconds, or limit if that is less.
func clamp(ms uint64, limit time.Duration) time.Duration {
	if ms >= uint64(limit/time.Millisecond) {
		return limit
	}
	return time.Duration(ms) * time.Millisecond
}

func (h *Handler) open(w http.ResponseWriter, r *http.Request) {
	s := h.newSession(w, r)
	if s == nil || !h.start(w, r, s) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(openReply{
		ID:       s.id,
		Hold:     s.hold.Milliseconds(),
		Interval: s.interval.Milliseconds(),
		Grace:    h.opts.Grace.Milliseconds(),
		MaxBody:  h.opts.MaxBody,
	})
}

// newSession makes the session r opens, with the hold r's query proposes,
// once Open agrees; it answers r itself and returns nil when it cannot.
func (h *Handler) newSession(w http.ResponseWriter, r *http.Request) *Session {
	hold, interval, err := h.grant(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil
	}
	var value any
	if h.opts.Open != nil {
		v, err := h.opts.Open(r)
		if err != nil {
			status := http.StatusForbidden
			if sc, ok := err.(interface{ StatusCode() int }); ok {
				status = sc.StatusCode()
			}
			h.refuse(w, r, status, err)
			return nil
		}
		value = v
	}
	var b [16]byte
	rand.Read(b[:])
	s := &Session{h: h, id: hex.EncodeToString(b[:]), remote: addr(r.RemoteAddr), local: localAddr(r), value: value, hold: hold, interval: interval}
	s.init(h.opts.MaxQueue, h.opts.MaxQueueBytes, h.opts.FailWhenFull)
	s.kick = make(chan struct{})
	return s
}

// start hands s to Accept and makes it known; false when r was answered
// instead.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, s *Session) bool {
	select {
	case h.accepted <- s:
	case <-r.Context().Done():
		return false
	case <-h.done:
		http.Error(w, "longpoll: closing", http.StatusServiceUnavailable)
		return false
	}
	h.mu.Lock()
	h.sessions[s.id] = s
	h.mu.Unlock()
	s.idle()
	return true
}

// maxLeft bounds the ids a Pushwire-Left header names.
const maxLeft = 4

// forget ends the sessions of left, a Pushwire-Left header: a roaming
// client names the sessions it left for adopted ones, so that a node that
// still holds one lets it go now rather than at the end of its grace
// period. An id is the capability: only its client knows it.
func (h *Handler) forget(left string) {
	for i := 0; left != "" && i < maxLeft; i++ {
		var id string
		id, left, _ = strings.Cut(left, ",")
		h.mu.Lock()
		s := h.sessions[strings.TrimSpace(id)]
		h.mu.Unlock()
		if s != nil {
			s.expire(&conn.CloseError{Code: conn.CloseGoingAway, Reason: "session moved", Local: true, Err: ErrMoved})
		}
	}
}

// errResume is the answer to a Pushwire-Resume header that is not a
// batch of messages numbered from 1.
var errResume = errors.New("longpoll: bad Pushwire-Resume: want a base64url batch of messages from sequence 1")

// adopt opens a session in place of one r names that this handler does not
// know: the records of r's Pushwire-Resume header are its first from the
// client. It answers r itself and returns nil when it cannot.
func (h *Handler) adopt(w http.ResponseWriter, r *http.Request) *Session {
	v := r.Header.Get("Pushwire-Resume")
	if int64(base64.RawURLEncoding.DecodedLen(len(v))) > h.opts.MaxBody {
		http.Error(w, "longpoll: Pushwire-Resume too large", http.StatusRequestEntityTooLarge)
		return nil
	}
	batch, err := base64.RawURLEncoding.DecodeString(v)
	var recs []record
	if err == nil {
		err = scanBatch(batch, func(rec record) bool {
			recs = append(recs, rec)
			return true
		})
	}
	if err != nil || len(recs) == 0 || recs[0].seq != 1 || recs[len(recs)-1].kind == kindClose {
		http.Error(w, errResume.Error(), http.StatusBadRequest)
		return nil
	}
	s := h.newSession(w, r)
	if s == nil {
		return nil
	}
	for _, rec := range recs {
		if !s.receive(rec) {
			http.Error(w, "longpoll: Pushwire-Resume holds more than the queue takes", http.StatusRequestEntityTooLarge)
			return nil
		}
	}
	if !h.start(w, r, s) {
		return nil
	}
	return s
}

// refuse answers r with status and err, and tells OnRefuse.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if h.opts.OnRefuse != nil {
		h.opts.OnRefuse(r, err)
	}
	http.Error(w, "longpoll: "+err.Error(), status)
}

func (h *Handler) checkOrigin(r *http.Request) error {
	if h.opts.CheckOrigin != nil {
		if !h.opts.CheckOrigin(r) {
			return fmt.Errorf("%w: CheckOrigin refused %q", handshake.ErrOrigin, r.Header.Get("Origin"))
		}
		return nil
	}
	p := handshake.OriginPolicy{Patterns: h.opts.OriginPatterns, TrustedProxies: h.opts.TrustedProxies}
	return p.Check(r)
}

// Session is the server's side of one long-polling client. It satisfies
// conn.MessageConn.
type Session struct {
	endpoint
	h             *Handler
	id            string
	remote, local net.Addr
	value         any           // Options.Open's
	hold          time.Duration // granted at open; 0 for plain polling
	interval      time.Duration // between a plain-polling client's polls

	pmu      sync.Mutex // guards the fields below
	polls    int        // polls in progress
	upgradeT uint64     // the upgraded stream's attempt number (t), 0 for none
	kick     chan struct{}
	expiry   *time.Timer
}

var _ conn.MessageConn = (*Session)(nil)

// ID returns the session's id.
func (s *Session) ID() string { return s.id }

// Value returns what Options.Open returned for the session's open request.
func (s *Session) Value() any { return s.value }

// ReadMessage returns the next message from the client, appended to
// buf[:0], waiting within ctx. A cancelled ctx returns its error and keeps
// the session; once it ended (the client's close, expiry, Close) it returns
// the *conn.CloseError that says how.
func (s *Session) ReadMessage(ctx context.Context, buf []byte) (conn.MessageType, []byte, error) {
	return s.read(ctx, buf)
}

// WriteMessage queues p for the client, waiting within ctx for room (or
// failing with ErrQueueFull, with FailWhenFull); the next poll delivers it,
// again if an answer is lost, exactly once. Safe for concurrent use.
func (s *Session) WriteMessage(ctx context.Context, typ conn.MessageType, p []byte) error {
	return s.write(ctx, typ, p, s.maxBytes)
}

// WritePrepared queues each of pms as WriteMessage would, in order, and
// wakes a waiting poll once for them all. The payloads are not copied: each
// must not change until the client has acknowledged it, as a broadcast's
// does not. A message that WriteMessage would refuse fails the call before
// any is queued.
func (s *Session) WritePrepared(ctx context.Context, pms ...*conn.PreparedMessage) error {
	var buf [64]record
	recs := buf[:0]
	for _, pm := range pms {
		if err := s.check(pm.Type(), pm.Payload(), s.maxBytes); err != nil {
			return err
		}
		recs = append(recs, record{kind: byte(pm.Type()), data: pm.Payload()})
	}
	return s.queue(ctx, recs)
}

// Close sends a close to the client and waits, at most a poll cycle (the
// hold time, or a plain-polling client's interval; a second at least), for
// the client to receive it.
func (s *Session) Close(code conn.CloseCode, reason string) error {
	if err := checkClose(code, reason); err != nil {
		return err
	}
	s.queueClose(code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), closeWait(s.hold, s.interval))
	defer cancel()
	go s.cancelUnpolled(ctx, cancel)
	s.waitAck(ctx)
	s.expire(&conn.CloseError{Code: code, Reason: reason, Local: true})
	return nil
}

// closeUnpolled is how long Close waits for the ack of a client that does
// not poll, beyond a plain-polling client's interval: one that went to
// another node (a balancer without stickiness) never comes back here, and
// a polling one is back within a round trip.
const closeUnpolled = time.Second

// cancelUnpolled calls cancel once no poll has been held for closeUnpolled,
// or ctx ends.
func (s *Session) cancelUnpolled(ctx context.Context, cancel func()) {
	t := time.NewTicker(closeUnpolled / 10)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.pmu.Lock()
			polled := s.polls > 0
			s.pmu.Unlock()
			if polled {
				last = now
			} else if now.Sub(last) >= closeUnpolled+s.interval {
				cancel()
				return
			}
		}
	}
}

// LocalAddr returns the address the open request came in on.
func (s *Session) LocalAddr() net.Addr { return s.local }

// RemoteAddr returns the address of the open request's client.
func (s *Session) RemoteAddr() net.Addr { return s.remote }

// expire ends the session and forgets it.
func (s *Session) expire(ce *conn.CloseError) {
	s.h.mu.Lock()
	delete(s.h.sessions, s.id)
	s.h.mu.Unlock()
	s.pmu.Lock()
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.pmu.Unlock()
	s.end(ce)
}

// idle starts the grace period: without a poll before it ends, the session
// expires.
func (s *Session) idle() {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.polls > 0 {
		return
	}
	if s.expiry == nil {
		s.expiry = time.AfterFunc(s.h.opts.Grace, func() {
			s.pmu.Lock()
			polling := s.polls > 0 // a poll began as the timer fired
			s.pmu.Unlock()
			if !polling {
				s.expire(&conn.CloseError{Code: conn.CloseAbnormal, Reason: "session expired", Local: true, Err: ErrExpired})
			}
		})
		return
	}
	s.expiry.Reset(s.h.opts.Grace)
}

// startPoll makes this poll the session's current one: an older poll still
// waiting is answered empty.
func (s *Session) startPoll() <-chan struct{} {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.polls++
	if s.expiry != nil {
		s.expiry.Stop()
	}
	close(s.kick)
	s.kick = make(chan struct{})
	return s.kick
}

func (s *Session) endPoll() {
	s.pmu.Lock()
	s.polls--
	s.pmu.Unlock()
	s.idle()
}

func (s *Session) poll(w http.ResponseWriter, r *http.Request, ack uint64) {
	if _, err := s.ack(ack); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.stale(r) {
		// Sent before the client's upgrade, it arrived after: it must not
		// end the WebSocket. Answered empty, as a superseded poll is.
		w.Header().Set("Content-Length", "0")
		return
	}
	kick := s.startPoll()
	defer s.endPoll()
	timer := time.NewTimer(s.hold)
	defer timer.Stop()
	var recs []record
	for woken := false; ; woken = true {
		s.mu.Lock()
		changed := s.wait()
		s.mu.Unlock()
		if woken {
			s.settle()
		}
		if recs = s.pendingAfter(0, DefaultMaxBatch); len(recs) > 0 || s.hold == 0 {
			break
		}
		select {
		case <-changed:
			continue
		case <-s.ended:
		case <-kick:
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		break
	}
	select {
	case <-s.ended:
		if len(recs) == 0 {
			http.Error(w, "longpoll: no such session", http.StatusNotFound)
			return
		}
	default:
	}
	body := appendBatch(nil, recs)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	http.NewResponseController(w).Flush()
}

// settle lets a writer that is queueing messages go on before a poll it
// woke collects them, for as long as it queues more between two yields
// (a few times at most): the answer then carries what the writer queued
// in a row, a replay say, rather than its first message. A client that
// roams gets one answer from each session.
func (s *Session) settle() {
	s.mu.Lock()
	n := len(s.out)
	s.mu.Unlock()
	for range 8 {
		runtime.Gosched()
		s.mu.Lock()
		m := len(s.out)
		s.mu.Unlock()
		if m == n {
			return
		}
		n = m
	}
}

// send takes a send's records. In a session that adopted (see
// Handler.adopt), they follow the opening records whatever their numbers,
// which count the session the client had before.
func (s *Session) send(w http.ResponseWriter, r *http.Request, ack uint64, adopted bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.h.opts.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "longpoll: body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "longpoll: reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Check everything before taking anything.
	if err := scanBatch(body, nil); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	closeAcked, err := s.ack(ack)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Take records until one finds no room, or a gap: the client sends the
	// rest again. Nothing is decoded past that.
	take := s.receive
	if adopted {
		next := s.received()
		take = func(rec record) bool {
			next++
			rec.seq = next
			return s.receive(rec)
		}
	}
	scanBatch(body, take)
	w.Header().Set("Pushwire-Ack", strconv.FormatUint(s.received(), 10))
	w.WriteHeader(http.StatusNoContent)
	s.mu.Lock()
	peerClosed := s.final != nil
	s.mu.Unlock()
	if peerClosed || closeAcked {
		s.expire(nil)
	}
}

// stale reports whether a poll was sent before the upgrade that now
// carries the session: the client numbers its upgrade attempts, and its
// polls carry the number of the last (t), bumped when it gives one up.
func (s *Session) stale(r *http.Request) bool {
	t, err := strconv.ParseUint(r.URL.Query().Get("t"), 10, 64)
	if err != nil {
		return false // a client that does not upgrade
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.upgradeT != 0 && t < s.upgradeT
}

// upgrade moves the session to a WebSocket, which then stands for the
// session's poll: the poll it replaces is answered, and a poll that comes
// later (the client lost the WebSocket) ends it, unless it is stale.
func (s *Session) upgrade(w http.ResponseWriter, r *http.Request, ack uint64) {
	if _, err := s.ack(ack); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	opts := *s.h.opts.Upgrade
	opts.CheckOrigin = func(*http.Request) bool { return true } // ServeHTTP checked it
	opts.ReadLimit = s.h.opts.MaxBody + binary.MaxVarintLen64
	ws, err := conn.Accept(w, r, &opts)
	if err != nil {
		return
	}
	t, _ := strconv.ParseUint(r.URL.Query().Get("t"), 10, 64)
	kick := s.startPoll()
	s.pmu.Lock()
	s.upgradeT = max(t, 1)
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		if s.upgradeT == max(t, 1) { // not yet a later upgrade's
			s.upgradeT = 0
		}
		s.pmu.Unlock()
		s.endPoll()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-kick:
			cancel()
		case <-ctx.Done():
		}
	}()
	how, err := s.stream(ctx, ws, s.h.opts.Grace/3, DefaultMaxBatch)
	closeWS := func(code conn.CloseCode, reason string) {
		if r.ProtoMajor == 2 {
			ws.Close(code, reason) // the stream ends when the handler returns
		} else {
			go ws.Close(code, reason)
		}
	}
	switch {
	case how == streamFinished:
		s.expire(nil)
		closeWS(conn.CloseNormal, "")
	case how == streamStopped:
		closeWS(conn.CloseNormal, "superseded")
	case how == streamEnded:
		closeWS(conn.CloseGoingAway, "session ended")
	case isProtocolError(err):
		ce := &conn.CloseError{Code: conn.CloseProtocolError, Reason: err.Error(), Local: true, Err: err}
		s.expire(ce)
		closeWS(conn.CloseProtocolError, "")
	default:
		ws.NetConn().Close() // the client goes back to polling
	}
}

// addr is a net.Addr for an address written as text.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

func localAddr(r *http.Request) net.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return addr("")
}
