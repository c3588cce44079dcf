package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
)

// streamBufferSize is the write buffer of streamed connections: a fragment
// goes out each time it fills, so that messages of a few KiB already
// travel in several fragments, and 8 MiB in 8192, under the 16384 that
// ws accepts by default.
const streamBufferSize = 1024

var multibyte = []byte("aé€𝄞 ")

var words = strings.Fields("push wire frame deflate window socket close ping message fragment server client über naïve π →")

// payload makes a message of exactly size bytes, from r: random bytes,
// UTF-8 text with characters of 1 to 4 bytes, or words (kind "words"),
// which compress whatever the window.
func payload(r *rand.Rand, typ conn.MessageType, size int, kind string) []byte {
	var b []byte
	switch {
	case kind == "words":
		for len(b) < size {
			b = append(b, words[r.IntN(len(words))]...)
			b = append(b, ' ')
		}
	case typ == conn.Binary:
		b = make([]byte, size+8)
		for i := 0; i < size; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
		return b[:size:size]
	default:
		b = bytes.Repeat(multibyte, size/len(multibyte)+1)
	}
	// Cut at a character boundary, then fill with 'a'.
	n := min(size, len(b))
	for n > 0 && n < len(b) && !utf8.RuneStart(b[n]) {
		n--
	}
	return append(b[:n:n], bytes.Repeat([]byte("a"), size-n)...)
}

// streamChunk is how much of a message a streamed write takes at once,
// with a ping after each piece.
func streamChunk(n int) int { return min(max(n/4, 1), 256<<10) }

// writeMessage sends p whole, or (stream) through NextWriter in pieces with
// a ping after each but the last, and returns the pings sent.
func writeMessage(ctx context.Context, c *conn.Conn, typ conn.MessageType, p []byte, stream bool) (pings int, err error) {
	if !stream {
		return 0, c.WriteMessage(ctx, typ, p)
	}
	w, err := c.NextWriter(ctx, typ)
	if err != nil {
		return 0, err
	}
	chunk := streamChunk(len(p))
	for off := 0; off < len(p); off += chunk {
		if _, err := w.Write(p[off:min(off+chunk, len(p))]); err != nil {
			return pings, err
		}
		if off+chunk < len(p) {
			if err := c.WritePing(ctx, []byte("between fragments")); err != nil {
				return pings, err
			}
			pings++
		}
	}
	return pings, w.Close()
}

// readMessage reads a message whole, or (stream) through NextReader.
func readMessage(ctx context.Context, c *conn.Conn, buf []byte, stream bool) (conn.MessageType, []byte, error) {
	if !stream {
		return c.ReadMessage(ctx, buf)
	}
	typ, r, err := c.NextReader(ctx)
	if err != nil {
		return 0, nil, err
	}
	b := bytes.NewBuffer(buf[:0])
	_, err = io.Copy(b, r)
	return typ, b.Bytes(), err
}

// A goServer is pushwire's echo server, for the peers' clients. Each
// connection's query says what to do:
//
//	id=S                   names the connection for result
//	stream=1               reads with NextReader, echoes through NextWriter
//	                       with pings between fragments
//	protocols=a,b          the subprotocols supported
//	deflate=1              permessage-deflate, imposing smwb=N, cmwb=N
//	                       (window bits), snct=1, cnct=1 (no context takeover)
//	close=C&reason=R       closes at once with C and R, instead of echoing
type goServer struct {
	*httptest.Server
	mu      sync.Mutex
	results map[string]chan serverResult
}

// A serverResult is how one connection of a goServer went.
type serverResult struct {
	compressed bool
	protocol   string
	messages   int   // echoed
	payload    int64 // bytes echoed
	pings      int   // sent between fragments
	pongs      int64 // received
	wire       wireCount
	// end is how reading ended (a *conn.CloseError from the peer's close),
	// or, when the server closed, Close's error.
	end error
}

func startGoServer(t *testing.T) *goServer {
	s := &goServer{results: map[string]chan serverResult{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// url returns the URL of a connection with the given id and query.
func (s *goServer) url(id string, q url.Values) string {
	v := url.Values{"id": {id}}
	for k, vs := range q {
		v[k] = vs
	}
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/?" + v.Encode()
}

func (s *goServer) resultChan(id string) chan serverResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.results[id]
	if ch == nil {
		ch = make(chan serverResult, 1)
		s.results[id] = ch
	}
	return ch
}

// result waits for connection id to end.
func (s *goServer) result(t *testing.T, id string) serverResult {
	t.Helper()
	select {
	case r := <-s.resultChan(id):
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("server: connection %q did not end within 30 s", id)
		return serverResult{}
	}
}

func (s *goServer) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("id")
	var res serverResult
	defer func() { s.resultChan(id) <- res }()

	var pongs atomic.Int64
	opts := &conn.AcceptOptions{Options: conn.Options{OnPong: func([]byte) { pongs.Add(1) }}}
	stream := q.Get("stream") != ""
	if stream {
		opts.WriteBufferSize = streamBufferSize
	}
	if p := q.Get("protocols"); p != "" {
		opts.Subprotocols = strings.Split(p, ",")
	}
	if q.Get("deflate") != "" {
		opts.Compression = &deflate.Config{
			ServerMaxWindowBits:     atoi(q.Get("smwb")),
			ClientMaxWindowBits:     atoi(q.Get("cmwb")),
			ServerNoContextTakeover: q.Get("snct") != "",
			ClientNoContextTakeover: q.Get("cnct") != "",
		}
	}
	c, err := conn.Accept(w, r, opts)
	if err != nil {
		res.end = fmt.Errorf("accept: %w", err)
		return
	}
	res.compressed, res.protocol = c.Compressed(), c.Subprotocol()
	defer func() { res.pongs = pongs.Load() }()
	if q.Has("close") {
		res.end = c.Close(conn.CloseCode(atoi(q.Get("close"))), q.Get("reason"))
		return
	}
	ctx := context.Background()
	start := wireOf(c)
	var buf []byte
	for {
		typ, msg, err := readMessage(ctx, c, buf, stream)
		if err != nil {
			res.end = err
			return
		}
		n, err := writeMessage(ctx, c, typ, msg, stream)
		res.pings += n
		if err != nil {
			res.end = fmt.Errorf("echo: %w", err)
			c.Close(conn.CloseInternalError, "echo failed")
			return
		}
		res.messages++
		res.payload += int64(len(msg))
		res.wire = wireOf(c).since(start)
		buf = msg
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// dialPeerWith connects to srv with the query q and the test's name as
// id, and waits for the server's "open", which it returns.
func dialPeerWith(t *testing.T, srv *peerServer, q url.Values, opts *conn.DialOptions) (*conn.Conn, event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.Set("id", t.Name())
	c, err := conn.Dial(ctx, srv.url+"?"+q.Encode(), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close(conn.CloseGoingAway, "test ends") })
	return c, srv.await(t, t.Name(), "open")
}
