package interop

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/handshake"
)

// deflateMessages is what each compressed connection echoes: words, which
// compress whatever the window; the second message like the first, which
// context takeover shortens; one streamed (NextWriter on pushwire's side,
// fragments of peerFrag bytes on the peer's), and one under the
// compression threshold of pushwire's default config (128 bytes), which
// goes out uncompressed.
var deflateMessages = []struct {
	typ    conn.MessageType
	size   int
	stream bool
}{
	{conn.Text, 4096, false},
	{conn.Text, 4096, false},
	{conn.Binary, 6000, true},
	{conn.Text, 100, false},
}

// A deflateCase is one set of permessage-deflate parameters: what the
// client offers, or (imposed) what the server imposes on a client that
// offers the defaults. Window bits go from 8 to 15, 15 being the default.
type deflateCase struct {
	serverBits, clientBits   int
	serverNoCtx, clientNoCtx bool
	imposed                  bool
}

func (d deflateCase) String() string {
	s := fmt.Sprintf("s%d-c%d", d.serverBits, d.clientBits)
	if d.serverNoCtx {
		s += "-snct"
	}
	if d.clientNoCtx {
		s += "-cnct"
	}
	if d.imposed {
		s += "-imposed"
	}
	return s
}

// agreement is what both sides should agree on.
func (d deflateCase) agreement() deflate.Agreement {
	return deflate.Agreement{
		ServerNoContextTakeover: d.serverNoCtx, ClientNoContextTakeover: d.clientNoCtx,
		ServerMaxWindowBits: d.serverBits, ClientMaxWindowBits: d.clientBits,
	}
}

// deflateMatrix is every pair of window sizes, server's and client's, that
// p can use when the peer is the server (or not): from 8 bits where only
// pushwire compresses with the window, from p.minCompressBits where p does.
// Context takeover on or off each side takes its four combinations in turn,
// so that each meets every window size of either side, once or twice, in a fourth
// of the connections of the full product (which takes a minute here).
// Last, the server imposes all four parameters on a client that asked for
// none.
func deflateMatrix(p *peer, peerIsServer bool) []deflateCase {
	serverMin, clientMin := 8, 8
	if peerIsServer {
		serverMin = p.minCompressBits
	} else {
		clientMin = p.minCompressBits
	}
	var m []deflateCase
	for s := serverMin; s <= 15; s++ {
		for c := clientMin; c <= 15; c++ {
			flags := s + c
			m = append(m, deflateCase{serverBits: s, clientBits: c, serverNoCtx: flags&1 != 0, clientNoCtx: flags&2 != 0})
		}
	}
	return append(m, deflateCase{serverBits: 10, clientBits: 9, serverNoCtx: true, clientNoCtx: true, imposed: true})
}

// Every message comes back equal under every combination of parameters:
// both sides agree on them (pushwire's Compressed, the peer's answered
// Sec-WebSocket-Extensions), and messages went compressed both ways (the
// socket carried less than the payload).
func TestDeflate(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			t.Run("pushwire-client", func(t *testing.T) {
				t.Parallel()
				srv := startServer(t, p, "--deflate")
				imposing := startServer(t, p, "--deflate", "--server-max-window-bits", "10", "--client-max-window-bits", "9",
					"--server-no-context-takeover", "--client-no-context-takeover")
				for _, d := range deflateMatrix(p, true) {
					t.Run(d.String(), func(t *testing.T) {
						if d.imposed {
							deflateToPeerServer(t, imposing, d)
						} else {
							deflateToPeerServer(t, srv, d)
						}
					})
				}
			})
			t.Run("pushwire-server", func(t *testing.T) {
				t.Parallel()
				srv := startGoServer(t)
				var cases []clientCase
				matrix := deflateMatrix(p, false)
				for _, d := range matrix {
					q := url.Values{"deflate": {"1"}}
					offer := &peerDeflate{}
					if d.imposed {
						q.Set("smwb", strconv.Itoa(d.serverBits))
						q.Set("cmwb", strconv.Itoa(d.clientBits))
						q.Set("snct", "1")
						q.Set("cnct", "1")
					} else {
						offer = &peerDeflate{ServerMaxWindowBits: d.serverBits, ClientMaxWindowBits: d.clientBits,
							ServerNoContextTakeover: d.serverNoCtx, ClientNoContextTakeover: d.clientNoCtx}
					}
					c := clientCase{ID: d.String(), URL: srv.url(d.String(), q), Deflate: offer, Close: &peerClose{Code: 1000}}
					for _, m := range deflateMessages {
						pm := peerMessage{Type: m.typ.String(), Size: m.size, Kind: "words"}
						if m.stream {
							pm.Frag = peerFrag
						}
						c.Messages = append(c.Messages, pm)
					}
					cases = append(cases, c)
				}
				done := runClient(t, p, cases)
				for _, d := range matrix {
					t.Run(d.String(), func(t *testing.T) {
						e, res := done[d.String()], srv.result(t, d.String())
						if !res.compressed {
							t.Error("pushwire did not negotiate compression")
						}
						checkAgreement(t, e.Extensions, d.agreement())
						if e.Messages != len(deflateMessages) {
							t.Errorf("echoed %d messages, want %d", e.Messages, len(deflateMessages))
						}
						if ce, ok := res.end.(*conn.CloseError); !ok || ce.Code != conn.CloseNormal {
							t.Errorf("read ended with %v, want the peer's close 1000", res.end)
						}
						checkCompressed(t, res.wire, res.payload)
					})
				}
			})
		})
	}
}

// deflateToPeerServer offers d to srv (or the defaults, if d is imposed)
// and echoes deflateMessages.
func deflateToPeerServer(t *testing.T, srv *peerServer, d deflateCase) {
	cfg := &deflate.Config{}
	if !d.imposed {
		cfg = &deflate.Config{ServerMaxWindowBits: d.serverBits, ClientMaxWindowBits: d.clientBits,
			ServerNoContextTakeover: d.serverNoCtx, ClientNoContextTakeover: d.clientNoCtx}
	}
	c, open := dialPeerWith(t, srv, url.Values{}, &conn.DialOptions{Compression: cfg})
	if !c.Compressed() {
		t.Fatal("pushwire did not negotiate compression")
	}
	checkAgreement(t, open.Extensions, d.agreement())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := rand.New(rand.NewPCG(2, uint64(d.serverBits*16+d.clientBits)))
	start := wireOf(c)
	var total int64
	for _, m := range deflateMessages {
		want := payload(r, m.typ, m.size, "words")
		if _, err := writeMessage(ctx, c, m.typ, want, m.stream); err != nil {
			t.Fatalf("write: %v", err)
		}
		typ, got, err := readMessage(ctx, c, nil, m.stream)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != m.typ || !bytes.Equal(got, want) {
			t.Fatalf("echo of %d bytes is a %s message of %d bytes, %s", len(want), typ, len(got), diff(got, want))
		}
		total += int64(len(want))
	}
	checkCompressed(t, wireOf(c).since(start), total)
	if err := c.Close(conn.CloseNormal, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	e := srv.await(t, t.Name(), "close")
	if e.Messages != len(deflateMessages) {
		t.Errorf("the peer echoed %d messages, want %d", e.Messages, len(deflateMessages))
	}
}

// checkAgreement checks the Sec-WebSocket-Extensions the server answered
// against the agreement wanted.
func checkAgreement(t *testing.T, answered string, want deflate.Agreement) {
	t.Helper()
	exts, err := handshake.ParseExtensions([]string{answered})
	if err != nil {
		t.Fatalf("answered extensions %q: %v", answered, err)
	}
	var got *deflate.Agreement
	for _, e := range exts {
		if e.Name != deflate.ExtensionName {
			continue
		}
		p, err := deflate.ParseParams(e.Params)
		if err != nil {
			t.Fatalf("answered extensions %q: %v", answered, err)
		}
		got = &deflate.Agreement{
			ServerNoContextTakeover: p.ServerNoContextTakeover, ClientNoContextTakeover: p.ClientNoContextTakeover,
			ServerMaxWindowBits: or15(p.ServerMaxWindowBits), ClientMaxWindowBits: or15(p.ClientMaxWindowBits),
		}
	}
	if got == nil || *got != want {
		t.Errorf("answered %q, want %+v", answered, want)
	}
}

func or15(bits int) int {
	if bits == 0 {
		return 15
	}
	return bits
}

// checkCompressed checks that the socket carried less than half the
// payload each way: words compress to about a quarter, whatever the window.
func checkCompressed(t *testing.T, w wireCount, payload int64) {
	t.Helper()
	if !w.ok {
		return
	}
	if limit := uint64(payload) / 2; w.sent > limit || w.received > limit {
		t.Errorf("%d bytes of messages went as %d bytes and came back as %d: not compressed", payload, w.sent, w.received)
	}
}
