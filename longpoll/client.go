package longpoll

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
)

// DialOptions configure a Client.
type DialOptions struct {
	// HTTPClient makes the requests; default http.DefaultClient.
	HTTPClient *http.Client
	// Header holds extra headers for every request (Origin, Authorization).
	Header http.Header
	// MaxQueue and MaxQueueBytes bound each direction; FailWhenFull makes
	// WriteMessage fail instead of waiting when the queue is full.
	MaxQueue, MaxQueueBytes int
	FailWhenFull            bool
	// Hold proposes how long the server may hold a poll, in whole
	// milliseconds (rounded up); 0 takes the server's. Propose less than
	// the idle timeout of a proxy on the way: one that cuts requests idle
	// for 10 s wants 8 s. The server grants at most its Options.Hold, and
	// both sides use what it granted.
	Hold time.Duration
	// PollInterval, if set, asks for plain polling instead, for networks
	// that cut any request held open: the server answers every poll at
	// once, empty when nothing is new, and the client polls every
	// PollInterval. A message from the server waits up to an interval; one
	// to it leaves at once. The server grants at most half its grace
	// period. Hold must be 0 with it.
	PollInterval time.Duration
	// Upgrade moves the session to a WebSocket at <prefix>/upgrade once it
	// is open (the server must enable it, Options.Upgrade), with these
	// options (Header defaults to the one above); nil keeps it on polling.
	// No message is lost, duplicated or reordered by the move, nor by the
	// way back to polling when the WebSocket fails; the client tries again
	// later.
	Upgrade *conn.DialOptions
	// Resume, if set, returns the text messages that open a session in
	// this one's place, for a node that does not know it (Options.Adopt):
	// every poll and send carries them, so that behind a balancer without
	// affinity each request is served where it lands. What the old
	// session held for the client is not delivered then: the messages must
	// let the server derive it (the push layer's subscriptions and
	// positions do), counting unread, the text messages the client
	// received and the application has not finished with: those
	// ReadMessage has not returned, and the last one it returned until it
	// is called again. The client takes the new session's id; what it sent
	// and saw no acknowledgement of goes again, to the new session (twice,
	// then, if only an answer was lost).
	Resume func(unread [][]byte) [][]byte
}

// Client is the client side of a long-polling session. It satisfies
// conn.MessageConn. Polls and sends that fail are retried until the
// session's grace period runs out; the acknowledgements make every message
// arrive once, in order.
type Client struct {
	endpoint
	base       string
	id         string
	http       *http.Client
	header     http.Header
	hold       time.Duration // as granted; 0 with plain polling
	interval   time.Duration // between plain polls, as granted
	grace      time.Duration
	maxBody    int // of a send request, as the server said
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{} // both loops have returned
	needAck    chan struct{} // the sender should tell the server what we received
	remoteAddr net.Addr

	upgrade  *conn.DialOptions       // nil: polling only
	resume   func([][]byte) [][]byte // DialOptions.Resume
	proposal string                  // the open's proposal, as parameters that follow others
	tmu      sync.Mutex              // guards the fields below
	gen      uint64                  // sessions adopted since the open: which id a request used
	left     []string                // the last ids left for adopted sessions, newest last
	paused   chan struct{}           // closed when polls and sends may go on; nil if they may
	upgraded bool                    // the session runs on a WebSocket
	attempt  uint64                  // upgrade attempts begun or given up, sent with polls (t)
	finished bool                    // a close crossed on the WebSocket: nothing to ack
}

var _ conn.MessageConn = (*Client)(nil)

// Dial opens a session with the long-polling handler at base, an http://
// or https:// URL of its prefix.
func Dial(ctx context.Context, base string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if opts.Hold < 0 || opts.PollInterval < 0 {
		return nil, errors.New("longpoll: negative Hold or PollInterval")
	}
	if opts.Hold > 0 && opts.PollInterval > 0 {
		return nil, errors.New("longpoll: Hold and PollInterval both set")
	}
	c := &Client{base: strings.TrimSuffix(base, "/"), http: opts.HTTPClient, header: opts.Header, needAck: make(chan struct{}, 1), resume: opts.Resume}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	c.init(opts.MaxQueue, opts.MaxQueueBytes, opts.FailWhenFull)
	c.keepLast = c.resume != nil
	open := proposal(opts)
	c.proposal = strings.Replace(open, "?", "&", 1)
	req, _, err := c.request(ctx, http.MethodPost, "/open"+open, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("longpoll: open: %s", resp.Status)
	}
	var reply openReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&reply); err != nil || reply.ID == "" {
		return nil, fmt.Errorf("longpoll: open: bad reply: %v", err)
	}
	c.id = reply.ID
	c.hold = time.Duration(reply.Hold) * time.Millisecond
	c.interval = time.Duration(reply.Interval) * time.Millisecond
	c.grace = time.Duration(reply.Grace) * time.Millisecond
	c.maxBody = int(reply.MaxBody)
	if c.maxBody <= batchOverhead {
		return nil, fmt.Errorf("longpoll: open: body limit %d too small", reply.MaxBody)
	}
	if u, err := url.Parse(base); err == nil {
		c.remoteAddr = addr(u.Host)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = make(chan struct{})
	c.upgrade = opts.Upgrade
	var loops sync.WaitGroup
	loops.Go(c.pollLoop)
	loops.Go(c.sendLoop)
	if c.upgrade != nil {
		loops.Go(c.upgradeLoop)
	}
	go func() { loops.Wait(); close(c.done) }()
	return c, nil
}

// proposal is the open request's query: the hold or the plain polling the
// client asks for, if any.
func proposal(opts *DialOptions) string {
	ms := func(d time.Duration) string {
		n := d / time.Millisecond
		if d%time.Millisecond != 0 {
			n++
		}
		return strconv.FormatInt(int64(n), 10)
	}
	switch {
	case opts.PollInterval > 0:
		return "?hold=0&interval=" + ms(opts.PollInterval)
	case opts.Hold > 0:
		return "?hold=" + ms(opts.Hold)
	}
	return ""
}

// roam is what a request was made with, to make sense of its answer
// should another session adopt it.
type roam struct {
	gen     uint64 // the session's generation (Client.gen)
	opening int    // records in its Pushwire-Resume header
}

func (c *Client) request(ctx context.Context, method, op string, body []byte) (*http.Request, roam, error) {
	// One session's id, ack and generation: a move changes them together.
	c.tmu.Lock()
	id, ack, at := c.id, c.received(), roam{gen: c.gen}
	left, attempt := strings.Join(c.left, ","), c.attempt
	c.tmu.Unlock()
	u := c.base + op
	if id != "" {
		u += "?id=" + id + "&ack=" + strconv.FormatUint(ack, 10)
	}
	if op == "/poll" && c.upgrade != nil {
		u += "&t=" + strconv.FormatUint(attempt, 10)
	}
	var resume string
	if id != "" && c.resume != nil {
		msgs := c.resume(c.unread())
		recs := make([]record, len(msgs))
		for i, m := range msgs {
			recs[i] = record{kind: kindText, seq: uint64(i + 1), data: m}
		}
		at.opening = len(recs)
		if len(recs) > 0 {
			resume = base64.RawURLEncoding.EncodeToString(appendBatch(nil, recs))
			// An adopting node grants the hold the open proposed.
			u += c.proposal
		}
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, at, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if resume != "" {
		req.Header.Set("Pushwire-Resume", resume)
	}
	if left != "" {
		req.Header.Set("Pushwire-Left", left)
	}
	return req, at, nil
}

// pollAnswered makes sense of a poll's answer to a request made with at:
// false when it must be dropped, for it counts a session the client has
// left. An answer that names a new session (the request's node adopted
// it) moves the client there even past a move since, which a send's
// adoption made: only one poll is in flight, so the client took nothing
// from that session, and the new one starts from positions it had.
func (c *Client) pollAnswered(resp *http.Response, at roam) bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if id := resp.Header.Get("Pushwire-Session"); id != "" {
		c.moveTo(id, at.opening)
		return true
	}
	return at.gen == c.gen
}

// moveTo makes id, a session that took opening records from a request's
// Pushwire-Resume, the client's: its messages count from 1, and what the
// old one was not seen to take follows the opening records, to go again.
// The caller holds tmu.
func (c *Client) moveTo(id string, opening int) {
	c.leave(c.id)
	c.id = id
	c.gen++
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inSeq = 0
	base := uint64(opening)
	for i := range c.out {
		if c.out[i].seq == c.closeSeq {
			c.closeSeq = base + uint64(i) + 1
		}
		c.out[i].seq = base + uint64(i) + 1
	}
	c.outSeq = base + uint64(len(c.out))
	c.notify()
}

// unread returns the text messages received that the application has not
// finished with (see DialOptions.Resume).
func (c *Client) unread() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var msgs [][]byte
	if c.lastRead.kind == kindText {
		msgs = append(msgs, c.lastRead.data)
	}
	for _, r := range c.in {
		if r.kind == kindText {
			msgs = append(msgs, r.data)
		}
	}
	return msgs
}

// movedSince reports whether the client moved to another session since
// it made a request with at.
func (c *Client) movedSince(at roam) bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return at.gen != c.gen
}

// leave notes a session the client left, for Pushwire-Left. The caller
// holds tmu.
func (c *Client) leave(id string) {
	c.left = append(c.left, id)
	if len(c.left) > maxLeft {
		c.left = c.left[1:]
	}
}

// ID returns the session's id.
func (c *Client) ID() string {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.id
}

// ReadMessage returns the next message from the server, appended to
// buf[:0], waiting for one within ctx. A cancelled ctx returns its error and
// keeps the session; once the session ended (the server's close, expiry, a
// fatal answer) it returns the *conn.CloseError that says how.
func (c *Client) ReadMessage(ctx context.Context, buf []byte) (conn.MessageType, []byte, error) {
	return c.read(ctx, buf)
}

// WriteMessage queues p for the server, waiting within ctx for room in the
// queue (or failing with ErrQueueFull, with FailWhenFull). It returns once
// the message is queued: the send loop delivers it, again after a failure,
// exactly once. Safe for concurrent use.
func (c *Client) WriteMessage(ctx context.Context, typ conn.MessageType, p []byte) error {
	return c.write(ctx, typ, p, c.maxBody-batchOverhead)
}

// Close sends a close and waits, at most a poll cycle (the hold time, or
// the poll interval; a second at least), for the server to receive it.
func (c *Client) Close(code conn.CloseCode, reason string) error {
	if err := checkClose(code, reason); err != nil {
		return err
	}
	c.queueClose(code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), closeWait(c.hold, c.interval))
	c.waitAck(ctx)
	cancel()
	c.end(&conn.CloseError{Code: code, Reason: reason, Local: true})
	c.cancel()
	<-c.done
	return nil
}

// fail ends the session and stops the loops.
func (c *Client) fail(ce *conn.CloseError) {
	c.end(ce)
	c.cancel()
}

// LocalAddr returns an empty address: a session spans many connections.
func (c *Client) LocalAddr() net.Addr { return addr("") }

// RemoteAddr returns the server's host, from the URL.
func (c *Client) RemoteAddr() net.Addr { return c.remoteAddr }

// retry waits before the next attempt after a failure, and reports whether
// the session is still worth trying: failures for longer than the grace
// period mean the server has forgotten it.
func (c *Client) retry(failingSince *time.Time, delay *time.Duration) bool {
	if failingSince.IsZero() {
		*failingSince = time.Now()
	}
	if time.Since(*failingSince) > c.grace {
		c.fail(&conn.CloseError{Code: conn.CloseAbnormal, Reason: "server unreachable", Local: true, Err: ErrExpired})
		return false
	}
	*delay = min(max(2**delay, 10*time.Millisecond), 2*time.Second)
	select {
	case <-time.After(*delay):
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Client) pollLoop() {
	var failingSince time.Time
	var delay time.Duration
	refused := false
	for {
		if !c.waitResumed() {
			return
		}
		c.mu.Lock()
		over := c.final != nil
		c.mu.Unlock()
		select {
		case <-c.ended:
			return
		default:
			if over && c.isFinished() {
				return
			}
		}
		if (refused || c.full()) && !c.waitEmpty() {
			return
		}
		start := time.Now()
		ok, all, err := c.pollOnce()
		refused = ok && !all
		switch {
		case err != nil:
			c.fail(err.(*conn.CloseError))
			return
		case ok:
			failingSince, delay = time.Time{}, 0
		case !c.retry(&failingSince, &delay):
			return
		}
		c.mu.Lock()
		closed := c.final != nil
		c.mu.Unlock()
		if closed {
			// Tell the server its close arrived, then stop.
			select {
			case c.needAck <- struct{}{}:
			default:
			}
			return
		}
		if ok && c.interval > 0 && !c.pause(time.Until(start.Add(c.interval))) {
			return
		}
	}
}

// pause waits d between plain polls; false when the client stopped.
func (c *Client) pause(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Client) full() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFull()
}

// waitEmpty waits, before the next poll, for the application to read all it
// has (a poll now would bring back what there is no room for), but no
// longer than half the grace period, so that the session stays alive.
func (c *Client) waitEmpty() bool {
	keepAlive := time.NewTimer(c.grace / 2)
	defer keepAlive.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.in) > 0 && c.final == nil {
		ch := c.wait()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-keepAlive.C:
			c.mu.Lock()
			return true
		case <-c.ctx.Done():
			c.mu.Lock()
			return false
		}
		c.mu.Lock()
	}
	return true
}

// pollOnce makes one poll: ok when it got an answer, all when every record
// of it was taken, err (a *conn.CloseError) when the session cannot go on.
func (c *Client) pollOnce() (ok, all bool, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.hold+10*time.Second)
	defer cancel()
	req, at, err := c.request(ctx, http.MethodGet, "/poll", nil)
	if err != nil {
		return false, false, nil
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, false, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && c.movedSince(at) {
		return true, true, nil // the node ended a session left since
	}
	if resp.StatusCode != http.StatusOK {
		return false, false, fatal(resp.StatusCode)
	}
	if !c.pollAnswered(resp, at) {
		return true, true, nil // the next poll goes to the session now current
	}
	// An answer holds at most a batch's worth, or one message the queue
	// can take: more is a broken or hostile server.
	limit := int64(max(DefaultMaxBatch, c.maxBytes) + batchOverhead)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return false, false, nil
	}
	if int64(len(body)) > limit {
		return false, false, &conn.CloseError{Code: conn.CloseTooBig, Local: true, Err: errors.New("longpoll: poll answer over the limit")}
	}
	// Take what fits; the rest comes again with the next poll.
	all = true
	take := func(r record) bool {
		all = c.receive(r)
		return all
	}
	if err := walkBatch(body, take); err != nil {
		return false, false, &conn.CloseError{Code: conn.CloseProtocolError, Local: true, Err: err}
	}
	return true, all, nil
}

// fatal returns the CloseError that ends a session on an HTTP status, or
// nil for a status worth retrying.
func fatal(status int) error {
	switch status {
	case http.StatusNotFound:
		return &conn.CloseError{Code: conn.CloseAbnormal, Reason: "session expired", Local: true, Err: ErrExpired}
	case http.StatusBadRequest:
		return &conn.CloseError{Code: conn.CloseProtocolError, Local: true, Err: errors.New("longpoll: server answered 400")}
	case http.StatusForbidden:
		return &conn.CloseError{Code: conn.ClosePolicyViolation, Local: true, Err: errors.New("longpoll: server answered 403")}
	case http.StatusRequestEntityTooLarge:
		return &conn.CloseError{Code: conn.CloseTooBig, Local: true, Err: errors.New("longpoll: server answered 413")}
	}
	return nil
}

func (c *Client) sendLoop() {
	var failingSince time.Time
	var delay time.Duration
	for {
		if !c.waitResumed() {
			return
		}
		c.mu.Lock()
		changed := c.wait()
		closed := c.final != nil
		c.mu.Unlock()
		recs := c.pendingAfter(0, c.maxBody-batchOverhead)
		if len(recs) == 0 {
			if closed {
				if !c.isFinished() {
					c.sendOnce(nil)
				}
				return
			}
			select {
			case <-changed:
			case <-c.needAck:
				c.sendOnce(nil)
			case <-c.ctx.Done():
				return
			}
			continue
		}
		all, ok := c.sendOnce(recs)
		switch {
		case ok && all:
			failingSince, delay = time.Time{}, 0
		case ok:
			// The server had no room for all: give it time to read.
			if !c.retry(&time.Time{}, &delay) {
				return
			}
		case !c.retry(&failingSince, &delay):
			return
		}
	}
}

// sendOnce posts a batch (or only our ack) and applies the server's ack.
func (c *Client) sendOnce(recs []record) (all, ok bool) {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	req, at, err := c.request(ctx, http.MethodPost, "/send", appendBatch([]byte{}, recs))
	if err != nil {
		return false, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && c.movedSince(at) {
		return false, false // the node ended a session left since: again
	}
	if err := fatal(resp.StatusCode); err != nil {
		c.fail(err.(*conn.CloseError))
		return false, false
	}
	acked, err := strconv.ParseUint(resp.Header.Get("Pushwire-Ack"), 10, 64)
	if resp.StatusCode != http.StatusNoContent || err != nil {
		return false, false
	}
	// Which of recs the answering session took: up to acked, in its
	// numbering, which is the request's, or the opening records' then
	// recs' in a session its node adopted.
	id := resp.Header.Get("Pushwire-Session")
	first := uint64(1)
	if len(recs) > 0 {
		first = recs[0].seq
	}
	if id != "" {
		first = uint64(at.opening) + 1
	}
	taken := int(min(uint64(len(recs)), max(acked+1, first)-first))
	c.tmu.Lock()
	current := at.gen == c.gen
	switch {
	case current && id != "":
		c.moveTo(id, at.opening)
	case !current && id != "":
		c.leave(id)
	}
	c.tmu.Unlock()
	if !current {
		// A session the client left since took them: they arrived, and
		// do not go again. Only one send is in flight, and a move keeps
		// the order of what is unacknowledged: they are its first.
		c.dropFirst(taken)
		return taken == len(recs), true
	}
	if _, err := c.ack(acked); err != nil {
		c.fail(&conn.CloseError{Code: conn.CloseProtocolError, Local: true, Err: err})
		return false, false
	}
	return taken == len(recs), true
}

// Upgraded reports whether the session runs on a WebSocket now.
func (c *Client) Upgraded() bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.upgraded
}

// holdBack begins an upgrade attempt, whose number it returns. It holds
// polls and sends back while an upgrade is tried and while the
// WebSocket carries the session: a poll would end it (see Session.upgrade).
func (c *Client) holdBack() uint64 {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.attempt++
	if c.paused == nil {
		c.paused = make(chan struct{})
	}
	return c.attempt
}

// release lets polls and sends go on.
func (c *Client) release() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.upgraded = false
	c.attempt++ // the polls from now end the WebSocket
	if c.paused != nil {
		close(c.paused)
		c.paused = nil
	}
}

// waitResumed waits while polls and sends are held back; false when the
// client stopped.
func (c *Client) waitResumed() bool {
	c.tmu.Lock()
	ch := c.paused
	c.tmu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Client) isFinished() bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	return c.finished
}

// upgradeProbe bounds an upgrade's handshake, while polls wait.
const upgradeProbe = 5 * time.Second

// upgradeRetry is the first wait after an upgrade failed; it doubles with
// each failure that follows, up to a minute.
var upgradeRetry = time.Second

// upgradeLoop moves the session to a WebSocket, and again after the
// WebSocket fails, backing off between attempts that fail.
func (c *Client) upgradeLoop() {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/upgrade"
	opts := *c.upgrade
	if opts.Header == nil {
		opts.Header = c.header
	}
	opts.ReadLimit = int64(max(DefaultMaxBatch, c.maxBytes) + batchOverhead + binary.MaxVarintLen64)
	delay := upgradeRetry
	for {
		attempt := c.holdBack()
		ctx, cancel := context.WithTimeout(c.ctx, upgradeProbe)
		c.tmu.Lock() // one session's id and ack: a move changes both
		q := "?id=" + c.id + "&ack=" + strconv.FormatUint(c.received(), 10) + "&t=" + strconv.FormatUint(attempt, 10)
		c.tmu.Unlock()
		ws, err := conn.Dial(ctx, u+q, &opts)
		cancel()
		if err == nil {
			c.tmu.Lock()
			c.upgraded = true
			c.tmu.Unlock()
			var how streamEnd
			how, err = c.stream(c.ctx, ws, c.grace/3, DefaultMaxBatch)
			switch {
			case how == streamFinished:
				c.tmu.Lock()
				c.finished = true
				c.tmu.Unlock()
				go ws.Close(conn.CloseNormal, "")
			case how == streamBroken && isProtocolError(err):
				c.fail(&conn.CloseError{Code: conn.CloseProtocolError, Local: true, Err: err})
				go ws.Close(conn.CloseProtocolError, "")
			default:
				ws.NetConn().Close()
			}
			if how == streamBroken && !isProtocolError(err) {
				delay = upgradeRetry // it worked: try again soon
			} else {
				c.release()
				return
			}
		}
		c.release()
		if he, ok := errors.AsType[*handshake.Error](err); ok && he.Status >= 400 && he.Status < 500 &&
			(he.Status != http.StatusNotFound || c.resume == nil) {
			// Not offered, or the session is gone (polls will say). A
			// client that roams tries again: it reached a node that does
			// not hold its session, another may.
			return
		}
		select {
		case <-time.After(delay):
		case <-c.ctx.Done():
			return
		}
		delay = min(2*delay, time.Minute)
	}
}
