package interop

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// peerFrag is the fragment size of the peers' streamed echoes: not a
// multiple of any UTF-8 sequence, so that fragments split characters.
const peerFrag = 1000

type echoMessage struct {
	typ  conn.MessageType
	size int
}

// echoPlan is what one connection echoes: every size class of the frame
// length (7-bit, 16-bit, 64-bit), text and binary, then one large message:
// 8 MiB in one frame each way when whole, 1 MiB of text in a thousand
// fragments, characters split between them, when streamed.
func echoPlan(stream bool) []echoMessage {
	var plan []echoMessage
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		plan = append(plan, echoMessage{conn.Text, n}, echoMessage{conn.Binary, n})
	}
	if stream {
		return append(plan, echoMessage{conn.Text, 1 << 20})
	}
	return append(plan, echoMessage{conn.Binary, 8 << 20})
}

func (m echoMessage) String() string { return fmt.Sprintf("%s of %d bytes", m.typ, m.size) }

func modeName(stream bool) string {
	if stream {
		return "streamed"
	}
	return "whole"
}

// Every message comes back equal, whole or streamed: pushwire's client
// writing (with NextWriter and pings between fragments, when streamed) and
// reading (NextReader) what the peer's server echoes (in fragments of
// peerFrag bytes with pings between, when streamed); pushwire's server
// echoing what the peer's client sends, in the same ways. Pings on either
// side are all answered.
func TestEcho(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			t.Run("pushwire-client", func(t *testing.T) {
				t.Parallel()
				srv := startServer(t, p)
				for _, stream := range []bool{false, true} {
					t.Run(modeName(stream), func(t *testing.T) { echoToPeerServer(t, srv, stream) })
				}
			})
			t.Run("pushwire-server", func(t *testing.T) {
				t.Parallel()
				srv := startGoServer(t)
				var cases []clientCase
				for _, stream := range []bool{false, true} {
					c := clientCase{ID: modeName(stream)}
					q := url.Values{}
					frag := 0
					if stream {
						q.Set("stream", "1")
						frag = peerFrag
					}
					c.URL = srv.url(c.ID, q)
					for _, m := range echoPlan(stream) {
						c.Messages = append(c.Messages, peerMessage{Type: m.typ.String(), Size: m.size, Frag: frag})
					}
					c.Close = &peerClose{Code: 1000}
					cases = append(cases, c)
				}
				done := runClient(t, p, cases)
				for _, c := range cases {
					t.Run(c.ID, func(t *testing.T) {
						got, res := done[c.ID], srv.result(t, c.ID)
						if got.Messages != len(c.Messages) || res.messages != len(c.Messages) {
							t.Errorf("echoed %d messages (server: %d), want %d", got.Messages, res.messages, len(c.Messages))
						}
						if got.Pongs != got.Pings {
							t.Errorf("the peer sent %d pings and got %d pongs", got.Pings, got.Pongs)
						}
						if res.pongs != int64(res.pings) {
							t.Errorf("pushwire sent %d pings and got %d pongs", res.pings, res.pongs)
						}
						if ce, ok := res.end.(*conn.CloseError); !ok || ce.Code != conn.CloseNormal || ce.Local {
							t.Errorf("server's read ended with %v, want the peer's close 1000", res.end)
						}
						if got.Code != 1000 {
							t.Errorf("the peer's close was answered with %d, want 1000", got.Code)
						}
					})
				}
			})
		})
	}
}

// echoToPeerServer echoes echoPlan through srv on one connection.
func echoToPeerServer(t *testing.T, srv *peerServer, stream bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := t.Name()
	q := url.Values{}
	opts := &conn.DialOptions{}
	if stream {
		q.Set("frag", strconv.Itoa(peerFrag))
		opts.WriteBufferSize = streamBufferSize
	}
	var pongs atomic.Int64
	opts.OnPong = func([]byte) { pongs.Add(1) }
	c, _ := dialPeerWith(t, srv, q, opts)

	r := rand.New(rand.NewPCG(1, uint64(len(id))))
	var buf []byte
	pings := 0
	plan := echoPlan(stream)
	for _, m := range plan {
		want := payload(r, m.typ, m.size, "")
		n, err := writeMessage(ctx, c, m.typ, want, stream)
		if err != nil {
			t.Fatalf("%v: write: %v", m, err)
		}
		pings += n
		typ, got, err := readMessage(ctx, c, buf, stream)
		if err != nil {
			t.Fatalf("%v: read: %v", m, err)
		}
		if typ != m.typ || !bytes.Equal(got, want) {
			t.Fatalf("%v: echo is a %s message of %d bytes, %s", m, typ, len(got), diff(got, want))
		}
		// The peer answers each ping before it echoes the message.
		if n := pongs.Load(); n != int64(pings) {
			t.Fatalf("%v: %d pongs for %d pings", m, n, pings)
		}
		buf = got
	}
	if err := c.Close(conn.CloseNormal, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
	e := srv.await(t, id, "close")
	if e.Code != 1000 || e.Reason != "done" || e.Messages != len(plan) {
		t.Errorf("the peer saw close %d %q after %d messages, want 1000 \"done\" after %d", e.Code, e.Reason, e.Messages, len(plan))
	}
	if e.Pongs != e.Pings {
		t.Errorf("the peer sent %d pings and got %d pongs", e.Pings, e.Pongs)
	}
}

// diff says where got first differs from want.
func diff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d: %#x, want %#x", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("equal for %d bytes, want %d", n, len(want))
	}
	return "equal"
}
