package frame_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/pushwire/pushwire/frame"
)

// refRules is an oracle for Parse: it decodes a complete header byte by byte
// and returns every rule the header breaks. Parse may report any one of them.
func refRules(b []byte) (n int, rules []error) {
	b0, b1 := b[0], b[1]
	ext := 0
	switch b1 & 0x7f {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	n = 2 + ext
	if b1&0x80 != 0 {
		n += 4
	}
	if len(b) < n {
		return n, nil
	}
	length := uint64(b1 & 0x7f)
	if ext > 0 {
		length = 0
		for _, c := range b[2 : 2+ext] {
			length = length<<8 | uint64(c)
		}
	}
	op := b0 & 0xf
	switch {
	case ext == 8 && length >= 1<<63:
		rules = append(rules, frame.ErrLengthOverflow)
	case ext == 8 && length < 1<<16, ext == 2 && length < 126:
		rules = append(rules, frame.ErrNonMinimalLength)
	}
	if (op >= 3 && op <= 7) || op >= 0xb {
		rules = append(rules, frame.ErrReservedOpcode)
	}
	if op >= 8 && b0&0x80 == 0 {
		rules = append(rules, frame.ErrControlFragmented)
	}
	if op >= 8 && length > 125 {
		rules = append(rules, frame.ErrControlTooLong)
	}
	return n, rules
}

// checkParseData holds ParseData, the fast path, to Parse: whatever it
// accepts Parse decodes the same way, and it accepts every whole data frame
// header of its form in 4 bytes or more.
func checkParseData(t *testing.T, data []byte, h frame.Header, n int, err error) {
	for _, masked := range []bool{false, true} {
		op, length, dn := frame.ParseData(data, masked)
		common := err == nil && h.Fin && h.Rsv == 0 && (h.Op == frame.OpText || h.Op == frame.OpBinary) &&
			h.Length <= 0xffff && h.Masked == masked && len(data) >= 4
		if dn == 0 {
			if common {
				t.Fatalf("ParseData(% x, %v) refused what Parse decodes as %+v", data, masked, h)
			}
			continue
		}
		if !common || op != h.Op || int64(length) != h.Length || dn != n {
			t.Fatalf("ParseData(% x, %v) = %v, %d, %d; Parse = %+v, %d, %v", data, masked, op, length, dn, h, n, err)
		}
		if masked && frame.MaskKey(data[:dn]) != h.Key {
			t.Fatalf("MaskKey(% x) = %x, Parse's key %x", data[:dn], frame.MaskKey(data[:dn]), h.Key)
		}
	}
}

func FuzzParse(f *testing.F) {
	// fragmented close
	f.Add([]byte("\b\x00"))
	// len16 boundary
	f.Add([]byte("\x82~\xff\xff"))
	// len64 max
	f.Add([]byte("\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"))
	// len64 nonminimal
	f.Add([]byte("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"))
	// len64 top bit
	f.Add([]byte("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"))
	// masked text hello
	f.Add([]byte("\x81\x857\xfa!=Hello"))
	// ping 126
	f.Add([]byte("\x89~\x00~"))
	// reserved opcode rsv
	f.Add([]byte("\xfb\x00"))
	// truncated mask
	f.Add([]byte("\x81\xfe\x01\x007\xfa"))
	for _, tt := range headerTests {
		f.Add(unhex(f, tt.wire))
	}
	for _, tt := range rejectTests {
		f.Add(unhex(f, tt.wire))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := frame.Parse(data)
		checkParseData(t, data, h, n, err)
		if n < 2 || n > frame.MaxHeaderSize {
			t.Fatalf("Parse(% x) n = %d, outside [2, %d]", data, n, frame.MaxHeaderSize)
		}
		if err == frame.ErrShort {
			if n <= len(data) {
				t.Fatalf("Parse(% x) = ErrShort asking for %d bytes, has %d", data, n, len(data))
			}
			if len(data) >= 2 {
				if wantN, _ := refRules(data); n != wantN {
					t.Fatalf("Parse(% x) = ErrShort asking for %d bytes, want %d", data, n, wantN)
				}
			}
			if _, rerr := frame.ReadHeader(bytes.NewReader(data), make([]byte, frame.MaxHeaderSize)); rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
				t.Fatalf("ReadHeader(% x) = %v, want an EOF", data, rerr)
			}
			return
		}
		if n > len(data) {
			t.Fatalf("Parse(% x) = %v with n = %d past the input", data, err, n)
		}
		wantN, rules := refRules(data)
		if n != wantN {
			t.Fatalf("Parse(% x) n = %d, want %d", data, n, wantN)
		}
		if (err == nil) != (len(rules) == 0) {
			t.Fatalf("Parse(% x) error = %v, oracle finds %v", data, err, rules)
		}

		r := bytes.NewReader(data)
		rh, rerr := frame.ReadHeader(r, make([]byte, frame.MaxHeaderSize))
		if read := len(data) - r.Len(); read != n {
			t.Fatalf("ReadHeader(% x) read %d bytes, Parse took %d", data, read, n)
		}

		if err != nil {
			found := false
			for _, rule := range rules {
				found = found || err == rule
			}
			if !found {
				t.Fatalf("Parse(% x) error = %v, oracle finds %v", data, err, rules)
			}
			var fe *frame.Error
			if !errors.As(err, &fe) || fe.Code != frame.CloseProtocolError {
				t.Fatalf("Parse(% x) error = %v, want a *frame.Error with code 1002", data, err)
			}
			if rerr != err {
				t.Fatalf("ReadHeader(% x) error = %v, Parse's = %v", data, rerr, err)
			}
			return
		}

		if rerr != nil || rh != h {
			t.Fatalf("ReadHeader(% x) = %+v, %v; Parse = %+v", data, rh, rerr, h)
		}
		if h.Length < 0 {
			t.Fatalf("Parse(% x) length %d", data, h.Length)
		}
		if h.Rsv > 7 || h.Op > 0xf || h.Op.IsReserved() {
			t.Fatalf("Parse(% x) = %+v: field out of range", data, h)
		}
		if h.Size() != n {
			t.Fatalf("Parse(% x) n = %d, Size() = %d", data, n, h.Size())
		}
		if !h.Masked && h.Key != ([4]byte{}) {
			t.Fatalf("Parse(% x) unmasked header has key %x", data, h.Key)
		}
		enc := frame.AppendHeader(nil, h)
		if !bytes.Equal(enc, data[:n]) {
			t.Fatalf("AppendHeader(Parse(% x)) = % x", data[:n], enc)
		}
		h2, n2, err2 := frame.Parse(enc)
		if err2 != nil || h2 != h || n2 != n {
			t.Fatalf("Parse(AppendHeader(%+v)) = %+v, %d, %v", h, h2, n2, err2)
		}
	})
}

func FuzzParseClose(f *testing.F) {
	// app code euro
	f.Add([]byte("\x0f\xa0\xe2\x82\xac"))
	// bad utf8
	f.Add([]byte("\x03\xe8\xed\xa0\x80"))
	// empty
	f.Add([]byte(""))
	// no status on wire
	f.Add([]byte("\x03\xed"))
	// normal bye
	f.Add([]byte("\x03\xe8bye"))
	// one byte
	f.Add([]byte("\x03"))
	f.Add([]byte{})
	f.Add([]byte{0x03})
	f.Add([]byte("\x03\xe8bye"))
	f.Add([]byte("\x03\xedno"))
	f.Add([]byte("\x0f\xa0\xe2\x82\xac"))
	f.Add([]byte("\x03\xe8\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		code, reason, err := frame.ParseClose(data)
		switch {
		case len(data) == 0:
			if err != nil || code != frame.CloseNoStatus || len(reason) != 0 {
				t.Fatalf("ParseClose(empty) = %d, %q, %v", code, reason, err)
			}
			return
		case len(data) == 1:
			if err != frame.ErrCloseLength {
				t.Fatalf("ParseClose(% x) error = %v, want ErrCloseLength", data, err)
			}
			return
		case !frame.CloseCode(uint16(data[0])<<8 | uint16(data[1])).Valid():
			if err != frame.ErrCloseCode {
				t.Fatalf("ParseClose(% x) error = %v, want ErrCloseCode", data, err)
			}
			return
		case !utf8.Valid(data[2:]):
			if err != frame.ErrCloseReason {
				t.Fatalf("ParseClose(% x) error = %v, want ErrCloseReason", data, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseClose(% x) error = %v, want nil", data, err)
		}
		if !code.Valid() || !bytes.Equal(reason, data[2:]) {
			t.Fatalf("ParseClose(% x) = %d, %q", data, code, reason)
		}
		enc := frame.AppendClose(nil, code, string(reason))
		if len(reason) <= frame.MaxCloseReason {
			if !bytes.Equal(enc, data) {
				t.Fatalf("AppendClose(ParseClose(% x)) = % x", data, enc)
			}
			return
		}
		// A long reason is cut at a rune boundary and parses again.
		if len(enc) > 2+frame.MaxCloseReason || !bytes.HasPrefix(data, enc) {
			t.Fatalf("AppendClose(%d, %d-byte reason) = % x", code, len(reason), enc)
		}
		if _, _, err := frame.ParseClose(enc); err != nil {
			t.Fatalf("ParseClose(AppendClose(%d, %d-byte reason)) = %v", code, len(reason), err)
		}
	})
}

func FuzzAppendClose(f *testing.F) {
	// no status
	f.Add(uint16(1005), string("ignored"))
	// normal
	f.Add(uint16(1000), string("bye"))
	// rune across limit
	f.Add(uint16(4000), string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xe2\x82\xac"))
	f.Add(uint16(1000), "bye")
	f.Add(uint16(1005), "no status")
	f.Add(uint16(4000), "\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac")
	f.Fuzz(func(t *testing.T, c uint16, reason string) {
		code := frame.CloseCode(c)
		p := frame.AppendClose(nil, code, reason)
		if code == frame.CloseNoStatus {
			if len(p) != 0 {
				t.Fatalf("AppendClose(CloseNoStatus) = % x", p)
			}
			return
		}
		if len(p) < 2 || len(p) > 2+frame.MaxCloseReason {
			t.Fatalf("AppendClose(%d, %d-byte reason) is %d bytes", code, len(reason), len(p))
		}
		got := string(p[2:])
		if len(reason) <= frame.MaxCloseReason && got != reason {
			t.Fatalf("AppendClose(%d, %q) reason = %q", code, reason, got)
		}
		if len(reason) > frame.MaxCloseReason {
			// The longest prefix of at most 123 bytes ending at a rune start.
			want := frame.MaxCloseReason
			for want > 0 && !utf8.RuneStart(reason[want]) {
				want--
			}
			if got != reason[:want] {
				t.Fatalf("AppendClose(%d, %d-byte reason) cut to %d bytes, want %d", code, len(reason), len(got), want)
			}
			if utf8.ValidString(reason) && !utf8.ValidString(got) {
				t.Fatalf("AppendClose cut a valid reason into invalid UTF-8: %q", got)
			}
		}
		if code.Valid() && utf8.ValidString(reason) {
			gc, gr, err := frame.ParseClose(p)
			if err != nil || gc != code || string(gr) != got {
				t.Fatalf("ParseClose(AppendClose(%d, %q)) = %d, %q, %v", code, reason, gc, gr, err)
			}
		}
	})
}

// checkerModel is an oracle for Checker, written from RFC 6455 section 5.4
// and RFC 7692 section 6.1.
type checkerModel struct {
	server bool
	rsv    byte
	in     bool
}

func (m *checkerModel) check(h frame.Header) error {
	if m.server && !h.Masked {
		return frame.ErrUnmasked
	}
	if !m.server && h.Masked {
		return frame.ErrMasked
	}
	first := h.Op == frame.OpText || h.Op == frame.OpBinary
	if h.Rsv&^m.rsv != 0 || (h.Rsv != 0 && !first) {
		return frame.ErrReservedBits
	}
	if h.Op == frame.OpContinuation && !m.in {
		return frame.ErrUnexpectedContinuation
	}
	if first && m.in {
		return frame.ErrExpectedContinuation
	}
	if first || h.Op == frame.OpContinuation {
		m.in = !h.Fin
	}
	return nil
}

// FuzzChecker feeds a Checker a sequence of headers, two bytes each laid out
// as on the wire (FIN, RSV and opcode; MASK and a 7-bit length), and compares
// it with checkerModel on the headers that Parse lets through.
func FuzzChecker(f *testing.F) {
	// client continuation without start
	f.Add(bool(false), byte('\x00'), []byte("\x81\x00\x00\x00"))
	// client rsv1 on continuation
	f.Add(bool(false), byte('\x04'), []byte("A\x00@\x00\xc9\x00"))
	// server fragmented with ping
	f.Add(bool(true), byte('\x04'), []byte("\x01\x80\x89\x80\x80\x80"))
	// server unmasked text in message
	f.Add(bool(true), byte('\x04'), []byte("\x02\x80\x81\x80\x00\x00"))
	f.Add(true, frame.Rsv1, []byte{0x01, 0x80, 0x89, 0x80, 0x80, 0x80})
	f.Add(false, byte(0), []byte{0x81, 0x00, 0x00, 0x00})
	f.Add(false, frame.Rsv1, []byte{0x41, 0x00, 0x40, 0x00, 0xc9, 0x00})
	f.Fuzz(func(t *testing.T, server bool, rsv byte, data []byte) {
		c := frame.Checker{Server: server, Rsv: rsv & 7}
		m := checkerModel{server: server, rsv: rsv & 7}
		for i := 0; i+1 < len(data); i += 2 {
			b0, b1 := data[i], data[i+1]
			h := frame.Header{
				Fin:    b0&0x80 != 0,
				Rsv:    b0 >> 4 & 7,
				Op:     frame.Opcode(b0 & 0xf),
				Masked: b1&0x80 != 0,
				Length: int64(b1 & 0x7f),
			}
			before := c.InMessage()
			err := c.Check(h)
			if h.Op.IsReserved() || (h.Op.IsControl() && (!h.Fin || h.Length > frame.MaxControlPayload)) {
				// Outside Checker's contract: only no panic, and no
				// change to the message state.
				if c.InMessage() != before {
					t.Fatalf("frame %d: Check(%+v) changed InMessage", i/2, h)
				}
				continue
			}
			if want := m.check(h); err != want {
				t.Fatalf("frame %d: Check(%+v) = %v, want %v", i/2, h, err, want)
			}
			if c.InMessage() != m.in {
				t.Fatalf("frame %d: after Check(%+v), InMessage() = %v, want %v", i/2, h, c.InMessage(), m.in)
			}
		}
	})
}
