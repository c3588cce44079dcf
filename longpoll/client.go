package longpoll

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushwire/pushwire/conn"
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
	hold       time.Duration
	grace      time.Duration
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{} // both loops have returned
	needAck    chan struct{} // the sender should tell the server what we received
	remoteAddr net.Addr
}

var _ conn.MessageConn = (*Client)(nil)

// Dial opens a session with the long-polling handler at base, an http://
// or https:// URL of its prefix.
func Dial(ctx context.Context, base string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	c := &Client{base: strings.TrimSuffix(base, "/"), http: opts.HTTPClient, header: opts.Header, needAck: make(chan struct{}, 1)}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	c.init(opts.MaxQueue, opts.MaxQueueBytes, opts.FailWhenFull)
	req, err := c.request(ctx, http.MethodPost, "/open", nil)
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
	c.grace = time.Duration(reply.Grace) * time.Millisecond
	if u, err := url.Parse(base); err == nil {
		c.remoteAddr = addr(u.Host)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = make(chan struct{})
	loops := make(chan struct{}, 2)
	go func() { c.pollLoop(); loops <- struct{}{} }()
	go func() { c.sendLoop(); loops <- struct{}{} }()
	go func() { <-loops; <-loops; close(c.done) }()
	return c, nil
}

func (c *Client) request(ctx context.Context, method, op string, body []byte) (*http.Request, error) {
	u := c.base + op
	if c.id != "" {
		u += "?id=" + c.id + "&ack=" + strconv.FormatUint(c.received(), 10)
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	return req, nil
}

// ID returns the session's id.
func (c *Client) ID() string { return c.id }

func (c *Client) ReadMessage(ctx context.Context, buf []byte) (conn.MessageType, []byte, error) {
	return c.read(ctx, buf)
}

func (c *Client) WriteMessage(ctx context.Context, typ conn.MessageType, p []byte) error {
	return c.write(ctx, kindOf(typ), p)
}

// Close sends a close and waits, at most the hold time, for the server to
// receive it.
func (c *Client) Close(code conn.CloseCode, reason string) error {
	c.queueClose(code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), c.hold)
	c.waitAck(ctx)
	cancel()
	c.end(&conn.CloseError{Code: code, Reason: reason, Local: true})
	c.cancel()
	<-c.done
	return nil
}

func (c *Client) LocalAddr() net.Addr  { return addr("") }
func (c *Client) RemoteAddr() net.Addr { return c.remoteAddr }

// retry waits before the next attempt after a failure, and reports whether
// the session is still worth trying: failures for longer than the grace
// period mean the server has forgotten it.
func (c *Client) retry(failingSince *time.Time, delay *time.Duration) bool {
	if failingSince.IsZero() {
		*failingSince = time.Now()
	}
	if time.Since(*failingSince) > c.grace {
		c.end(&conn.CloseError{Code: conn.CloseAbnormal, Reason: "server unreachable", Local: true})
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
	for {
		select {
		case <-c.ended:
			return
		default:
		}
		c.mu.Lock()
		// With no room to take messages, wait for the application to read.
		for len(c.in) >= c.maxMsgs && c.final == nil {
			ch := c.wait()
			c.mu.Unlock()
			select {
			case <-ch:
			case <-c.ctx.Done():
				return
			}
			c.mu.Lock()
		}
		c.mu.Unlock()
		ok, gone := c.pollOnce()
		switch {
		case gone:
			c.end(&conn.CloseError{Code: conn.CloseAbnormal, Reason: "session expired", Local: true})
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
	}
}

// pollOnce makes one poll: ok when it got an answer, gone when the server
// no longer knows the session.
func (c *Client) pollOnce() (ok, gone bool) {
	ctx, cancel := context.WithTimeout(c.ctx, c.hold+10*time.Second)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, "/poll", nil)
	if err != nil {
		return false, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, true
	default:
		return false, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return false, false
	}
	// Take what fits; the rest comes again with the next poll.
	decodeBatch(body, func(r record) error {
		if !c.receive(r) {
			return errBatch
		}
		return nil
	})
	return true, false
}

func (c *Client) sendLoop() {
	var failingSince time.Time
	var delay time.Duration
	for {
		c.mu.Lock()
		changed := c.wait()
		closed := c.final != nil
		c.mu.Unlock()
		recs := c.pending(DefaultMaxBatch)
		if len(recs) == 0 {
			if closed {
				c.sendOnce(nil)
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
		var body []byte
		for _, r := range recs {
			body = appendRecord(body, r)
		}
		acked, ok := c.sendOnce(body)
		switch {
		case ok && acked >= recs[len(recs)-1].seq:
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
func (c *Client) sendOnce(body []byte) (uint64, bool) {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if body == nil {
		body = []byte{}
	}
	req, err := c.request(ctx, http.MethodPost, "/send", body)
	if err != nil {
		return 0, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		c.end(&conn.CloseError{Code: conn.CloseAbnormal, Reason: "session expired", Local: true})
		return 0, false
	}
	acked, err := strconv.ParseUint(resp.Header.Get("Pushwire-Ack"), 10, 64)
	if resp.StatusCode != http.StatusNoContent || err != nil {
		return 0, false
	}
	c.ack(acked)
	return acked, true
}
