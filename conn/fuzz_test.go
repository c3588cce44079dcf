package conn_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/mask"
)

// streamConn is a net.Conn that reads a fixed stream, then io.EOF, and
// keeps what is written to it.
type streamConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.in.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return s.out.Write(p) }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

const fuzzLimit = 1024

// fuzzStream feeds b to a Conn of the given role and checks what a peer can
// rely on: every message it reads is within the limit and, if text, valid
// UTF-8; the stream ends in a *CloseError; a close the Conn sends for a
// broken rule carries that rule's code.
func fuzzStream(t *testing.T, role conn.Role, b []byte) {
	nc := &streamConn{in: bytes.NewReader(b)}
	c := conn.New(nc, role, nil, &conn.Options{ReadLimit: fuzzLimit, MaxFragments: 64})
	var buf []byte
	for range len(b) + 1 { // each message takes at least one byte of input
		typ, msg, err := c.ReadMessage(bg, buf)
		if err != nil {
			ce, ok := errors.AsType[*conn.CloseError](err)
			if !ok {
				t.Fatalf("ended with %T %v, not a *CloseError", err, err)
			}
			if ce.Local && ce.Code != conn.CloseAbnormal {
				if code := lastClose(t, nc.out.Bytes(), role); code != ce.Code {
					t.Fatalf("failed with %d but sent close %d", ce.Code, code)
				}
			}
			if !ce.Local && ce.Code != conn.CloseNoStatus && !ce.Code.Valid() {
				t.Fatalf("peer close with invalid code %d accepted", ce.Code)
			}
			return
		}
		if len(msg) > fuzzLimit {
			t.Fatalf("message of %d bytes past the limit %d", len(msg), fuzzLimit)
		}
		if typ == conn.Text && !utf8.Valid(msg) {
			t.Fatalf("invalid UTF-8 text accepted: %q", msg)
		}
		buf = msg
	}
	t.Fatal("more messages than input bytes")
}

// lastClose returns the code of the last close frame in out, written by a
// Conn of the given role.
func lastClose(t *testing.T, out []byte, role conn.Role) frame.CloseCode {
	code := frame.CloseCode(0)
	for _, f := range written(t, out, role) {
		if f.h.Op == frame.OpClose && len(f.p) >= 2 {
			code = frame.CloseCode(binary.BigEndian.Uint16(f.p))
		}
	}
	return code
}

type sentFrame struct {
	h frame.Header
	p []byte // unmasked
}

// written parses the frames in out, written by a Conn of the given role,
// and checks that they are masked as the role requires.
func written(t *testing.T, out []byte, role conn.Role) []sentFrame {
	var fs []sentFrame
	for len(out) > 0 {
		h, n, err := frame.Parse(out)
		if err != nil {
			t.Fatalf("our own output does not parse: %v", err)
		}
		if h.Masked == (role == conn.Server) {
			t.Fatalf("a %v wrote masked=%v", role, h.Masked)
		}
		p := append([]byte(nil), out[n:n+int(h.Length)]...)
		if h.Masked {
			mask.XOR(p, h.Key, 0)
		}
		fs = append(fs, sentFrame{h, p})
		out = out[n+int(h.Length):]
	}
	return fs
}

// addSeeds adds the hand-written seeds of the stream targets; testdata/fuzz
// holds only inputs the fuzzer found.
func addSeeds(f *testing.F, masked bool) {
	m := func(fin bool, op frame.Opcode, p []byte) []byte {
		return encode(frame.Header{Fin: fin, Op: op, Masked: masked}, p)
	}
	f.Add(m(true, frame.OpText, []byte("hello")))
	f.Add(bytes.Join([][]byte{m(false, frame.OpText, []byte("he")), m(true, frame.OpPing, []byte("p")), m(true, frame.OpContinuation, []byte("llo"))}, nil))
	f.Add(m(true, frame.OpText, []byte("\xed\xa0\x80")))
	f.Add(m(true, frame.OpClose, closePayload(1000, "bye")))
	f.Add(m(true, frame.OpBinary, make([]byte, fuzzLimit+1)))
	f.Add(m(true, frame.OpContinuation, nil))
	f.Add(m(true, 0xB, nil))
	f.Add(m(true, frame.OpBinary, make([]byte, 300))[:60])                                 // truncated
	f.Add(encode(frame.Header{Fin: true, Op: frame.OpText, Masked: !masked}, []byte("x"))) // the wrong role's mask bit
}

func FuzzServerStream(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzStream(t, conn.Server, b) })
}

func FuzzClientStream(f *testing.F) {
	addSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzStream(t, conn.Client, b) })
}

// FuzzServerEchoCoalesced echoes every message a server reads, holding the
// echoes with CoalesceWrites: however the stream ends, each echo it accepted
// is in the output, in order, before any close frame.
func FuzzServerEchoCoalesced(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		nc := &streamConn{in: bytes.NewReader(b)}
		c := conn.New(nc, conn.Server, nil, &conn.Options{ReadLimit: fuzzLimit, MaxFragments: 64, CoalesceWrites: true})
		var sent [][]byte
		for range len(b) + 1 {
			typ, msg, err := c.ReadMessage(bg, nil)
			if err != nil {
				break
			}
			if c.WriteMessage(bg, typ, msg) == nil {
				sent = append(sent, msg)
			}
		}
		for _, f := range written(t, nc.out.Bytes(), conn.Server) {
			if f.h.Op.IsControl() {
				if f.h.Op == frame.OpClose && len(sent) > 0 {
					t.Fatalf("close frame before %d accepted echoes", len(sent))
				}
				continue
			}
			if len(sent) == 0 || !bytes.Equal(f.p, sent[0]) {
				t.Fatalf("echo %q out of order or unasked", f.p)
			}
			sent = sent[1:]
		}
		if len(sent) > 0 {
			t.Fatalf("%d accepted echoes never sent", len(sent))
		}
	})
}

// oneByteConn is a streamConn whose reads return one byte at a time: a Conn
// over it never holds a whole frame, so it reads every message the general
// way.
type oneByteConn struct{ streamConn }

func (s *oneByteConn) Read(p []byte) (int, error) { return s.in.Read(p[:min(len(p), 1)]) }

// FuzzFastPathMatchesGeneral feeds the same stream to a Conn that reads it in
// large pieces, where most frames go readWhole's way, and to one that reads it
// a byte at a time, where all go the general way: both see the same messages,
// end the same way and write the same bytes.
func FuzzFastPathMatchesGeneral(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, role := range []conn.Role{conn.Server, conn.Client} {
			fast := &streamConn{in: bytes.NewReader(b)}
			slow := &oneByteConn{streamConn{in: bytes.NewReader(b)}}
			opts := &conn.Options{ReadLimit: fuzzLimit, MaxFragments: 64}
			cf, cs := conn.New(fast, role, nil, opts), conn.New(slow, role, nil, opts)
			for i := range len(b) + 1 {
				typF, msgF, errF := cf.ReadMessage(bg, nil)
				typS, msgS, errS := cs.ReadMessage(bg, nil)
				if typF != typS || !bytes.Equal(msgF, msgS) || conn.CloseStatus(errF) != conn.CloseStatus(errS) {
					t.Fatalf("server=%v, message %d: %v %q %v in pieces, %v %q %v a byte at a time",
						role, i, typF, msgF, errF, typS, msgS, errS)
				}
				if errF != nil {
					break
				}
			}
			if role == conn.Client {
				continue // its close frames are masked with keys of its own
			}
			if !bytes.Equal(fast.out.Bytes(), slow.out.Bytes()) {
				t.Fatalf("server=%v wrote %x in pieces, %x a byte at a time", role, fast.out.Bytes(), slow.out.Bytes())
			}
		}
	})
}

// deflateOffer is a client's opening handshake offering permessage-deflate.
const deflateOffer = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"

// acceptDeflate returns a server Conn that negotiated permessage-deflate
// with context takeover over a stream that goes on with b.
func acceptDeflate(t *testing.T, b []byte) *conn.Conn {
	nc := &streamConn{in: bytes.NewReader(append([]byte(deflateOffer), b...))}
	c, err := conn.AcceptConn(nc, &conn.AcceptOptions{
		Options:     conn.Options{ReadLimit: fuzzLimit, MaxFragments: 64},
		Compression: &deflate.Config{},
	})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// FuzzStreamedMatchesWhole reads the same compressed stream twice: with
// ReadMessage, and with NextReader readers that the plan has read whole or
// left after a few bytes, which the next read then skips. Every message read
// whole is the same in both, and both end with the same close code.
func FuzzStreamedMatchesWhole(f *testing.F) {
	var comp *deflate.Compressor // with context takeover: a new one for each seed
	z := func(p []byte) []byte {
		out, err := comp.Compress(nil, p)
		if err != nil {
			f.Fatal(err)
		}
		return out
	}
	m := func(fin bool, rsv1 bool, op frame.Opcode, p []byte) []byte {
		h := frame.Header{Fin: fin, Op: op, Masked: true}
		if rsv1 {
			h.Rsv = frame.Rsv1
		}
		return encode(h, p)
	}
	text := bytes.Repeat([]byte("a compressed message, "), 40)
	comp = deflate.NewCompressor(deflate.Agreement{}, false, 0)
	first, second := z(text), z(text) // the second needs the window of the first
	f.Add(bytes.Join([][]byte{m(true, true, frame.OpText, first), m(true, true, frame.OpText, second)}, nil), []byte{3, 0})
	f.Add(bytes.Join([][]byte{
		m(false, true, frame.OpText, first[:7]), m(true, false, frame.OpPing, []byte("p")),
		m(true, false, frame.OpContinuation, first[7:]), m(true, false, frame.OpBinary, []byte("plain")),
		m(true, true, frame.OpBinary, second),
	}, nil), []byte{2, 1, 0})
	comp = deflate.NewCompressor(deflate.Agreement{}, false, 0)
	f.Add(m(true, true, frame.OpText, z(append(bytes.Clone(text), 0xff))), []byte{4})
	comp = deflate.NewCompressor(deflate.Agreement{}, false, 0)
	f.Add(m(true, true, frame.OpBinary, z(make([]byte, 4*fuzzLimit))), []byte{2})
	f.Add(m(true, true, frame.OpBinary, []byte{0xff, 0xff, 0xff}), []byte{1})
	f.Fuzz(func(t *testing.T, b, plan []byte) {
		if len(plan) == 0 {
			plan = []byte{0}
		}
		whole, streamed := acceptDeflate(t, b), acceptDeflate(t, b)
		for i := range len(b) + 1 {
			typW, msgW, errW := whole.ReadMessage(bg, nil)
			typS, msgS, errS := readPlanned(streamed, plan[i%len(plan)])
			if errW != nil && errS == nil && msgS == nil {
				// What broke the rest of a message left part read
				// comes out when the next read skips it.
				_, _, errS = streamed.ReadMessage(bg, nil)
			}
			codeW, codeS := conn.CloseStatus(errW), conn.CloseStatus(errS)
			// A stream inflates what arrived before reading on, so it may
			// find bad data in a message before a fault that ReadMessage,
			// reading all its frames first, meets there.
			early := errW != nil && (codeS == conn.CloseInvalidPayload || codeS == conn.CloseTooBig)
			if codeW != codeS && !early {
				t.Fatalf("message %d: %v read whole, %v streamed", i, errW, errS)
			}
			if errW != nil {
				return
			}
			if typW != typS || msgS != nil && !bytes.Equal(msgW, msgS) {
				t.Fatalf("message %d: %v %q read whole, %v %q streamed", i, typW, msgW, typS, msgS)
			}
		}
		t.Fatal("more messages than input bytes")
	})
}

// readPlanned reads the next message as step says: 0 with ReadMessage, odd
// through NextReader to its end, even and above 0 only the first step bytes
// of it through NextReader (msg is then nil).
func readPlanned(c *conn.Conn, step byte) (conn.MessageType, []byte, error) {
	if step == 0 {
		return c.ReadMessage(bg, nil)
	}
	typ, r, err := c.NextReader(bg)
	if err != nil {
		return 0, nil, err
	}
	if step%2 == 1 {
		msg, err := io.ReadAll(r)
		return typ, msg, err
	}
	if _, err := io.ReadFull(r, make([]byte, step)); err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return 0, nil, err
	}
	return typ, nil, nil
}
