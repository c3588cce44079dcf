package fuzz

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/pushwire/pushwire/frame"
)

// FuzzCloseGobwas parses a close payload with frame.ParseClose and with
// ws.ParseCloseFrameData followed by ws.CheckCloseFrameData: verdicts and the
// decoded code and reason must agree, except for the differences
// closeDifference names. Accepted payloads are then encoded again by
// frame.AppendClose and ws.NewCloseFrameBody.
func FuzzCloseGobwas(f *testing.F) {
	// code 0
	f.Add([]byte("\x00\x00"))
	// code 1000
	f.Add([]byte("\x03\xe8"))
	// code 1001
	f.Add([]byte("\x03\xe9"))
	// code 1002
	f.Add([]byte("\x03\xea"))
	// code 1003
	f.Add([]byte("\x03\xeb"))
	// code 1004
	f.Add([]byte("\x03\xec"))
	// code 1005
	f.Add([]byte("\x03\xed"))
	// code 1006
	f.Add([]byte("\x03\xee"))
	// code 1007
	f.Add([]byte("\x03\xef"))
	// code 1008
	f.Add([]byte("\x03\xf0"))
	// code 1009
	f.Add([]byte("\x03\xf1"))
	// code 1010
	f.Add([]byte("\x03\xf2"))
	// code 1011
	f.Add([]byte("\x03\xf3"))
	// code 1012
	f.Add([]byte("\x03\xf4"))
	// code 1013
	f.Add([]byte("\x03\xf5"))
	// code 1014
	f.Add([]byte("\x03\xf6"))
	// code 1015
	f.Add([]byte("\x03\xf7"))
	// code 1016
	f.Add([]byte("\x03\xf8"))
	// code 2999
	f.Add([]byte("\v\xb7"))
	// code 3000
	f.Add([]byte("\v\xb8"))
	// code 3999
	f.Add([]byte("\x0f\x9f"))
	// code 4000
	f.Add([]byte("\x0f\xa0"))
	// code 4999
	f.Add([]byte("\x13\x87"))
	// code 5000
	f.Add([]byte("\x13\x88"))
	// code 65535
	f.Add([]byte("\xff\xff"))
	// code 999
	f.Add([]byte("\x03\xe7"))
	// empty
	f.Add([]byte(""))
	// invalid code invalid reason
	f.Add([]byte("\x13\x88\xff"))
	// one byte
	f.Add([]byte("\x03"))
	// reason
	f.Add([]byte("\x03\xe8bye"))
	// reason 123
	f.Add([]byte("\x03\xe8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	// reason 124
	f.Add([]byte("\x03\xe8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	// reason invalid byte
	f.Add([]byte("\x03\xe8\xff"))
	// reason multibyte
	f.Add([]byte("\x03\xe8héllo €"))
	// reason overlong
	f.Add([]byte("\x03\xe8\xc0\x80"))
	// reason rune across 123
	f.Add([]byte("\x03\xe8aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa€"))
	// reason surrogate
	f.Add([]byte("\x03\xe8\xed\xa0\x80"))
	// reason truncated rune
	f.Add([]byte("\x03\xe8\xe2\x82"))
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := frame.ParseClose(p)
		if len(p) == 0 {
			// gobwas returns code 0 and asks callers not to check it.
			if code != frame.CloseNoStatus || err != nil {
				t.Fatalf("empty payload: %v %v, want 1005", code, err)
			}
			return
		}
		gcode, greason := ws.ParseCloseFrameData(p)
		gerr := ws.CheckCloseFrameData(gcode, greason)
		if (err == nil) != (gerr == nil) {
			if closeDifference(p, err == nil) == "" {
				t.Fatalf("% x: ours %v, gobwas %v", p, err, gerr)
			}
			return
		}
		if err != nil {
			return
		}
		if uint16(code) != uint16(gcode) || string(reason) != greason {
			t.Fatalf("% x: ours %d %q, gobwas %d %q", p, code, reason, gcode, greason)
		}

		ours := frame.AppendClose(nil, code, string(reason))
		theirs := ws.NewCloseFrameBody(gcode, greason)
		if len(reason) <= frame.MaxCloseReason {
			if !bytes.Equal(ours, p) || !bytes.Equal(theirs, p) {
				t.Fatalf("% x: re-encoded as ours % x, gobwas % x", p, ours, theirs)
			}
			return
		}
		if len(ours) > 2+frame.MaxCloseReason || !bytes.HasPrefix(p, ours) || !utf8.Valid(ours[2:]) {
			t.Fatalf("% x: cut to % x", p, ours)
		}
		// RFC 6455 section 5.5.1: the reason is UTF-8; section 8.1: a
		// receiver that finds invalid UTF-8 MUST fail the connection. gobwas
		// cuts at byte 123 even inside a rune; we cut at the rune before.
		if !bytes.Equal(ours, theirs) && utf8.RuneStart(reason[frame.MaxCloseReason]) {
			t.Fatalf("% x: cut to ours % x, gobwas % x", p, ours, theirs)
		}
	})
}

// closeDifference names the known reason why frame.ParseClose accepts
// (oursAccept) or rejects the close payload p and gobwas does the opposite,
// judged from the code alone, or returns "" if there is none.
func closeDifference(p []byte, oursAccept bool) string {
	if len(p) < 2 {
		return ""
	}
	switch code := binary.BigEndian.Uint16(p); {
	// RFC 6455 section 7.4.2 gives 1000-2999 to the protocol and its IANA
	// registry (section 11.7), which registers 1012 Service Restart, 1013
	// Try Again Later and 1014 Bad Gateway. gobwas knows only the codes of
	// section 7.4.1.
	case oursAccept && code >= 1012 && code <= 1014:
		return "registered codes 1012-1014"
	// RFC 6455 section 7.4.2 defines ranges up to 4999 and no meaning for
	// any code above, so such a code is a protocol error. gobwas accepts
	// 5000-65535.
	case !oursAccept && code >= 5000:
		return "codes above 4999"
	}
	return ""
}
