package frame_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pushwire/pushwire/frame"
)

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

var validCloseCodes = []frame.CloseCode{
	1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
	3000, 3999, 4000, 4999,
}

var invalidCloseCodes = []frame.CloseCode{
	0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
}

func TestParseClose(t *testing.T) {
	type closeTest struct {
		name    string
		payload []byte
		code    frame.CloseCode
		reason  string
		err     error
	}
	tests := []closeTest{
		{"empty", nil, frame.CloseNoStatus, "", nil},
		{"empty non-nil", []byte{}, frame.CloseNoStatus, "", nil},
		{"one byte", []byte{0x03}, 0, "", frame.ErrCloseLength},
		{"one byte zero", []byte{0x00}, 0, "", frame.ErrCloseLength},
		{"normal", []byte{0x03, 0xe8}, frame.CloseNormal, "", nil},
		{"normal with reason", []byte("\x03\xe8bye"), frame.CloseNormal, "bye", nil},
		{"going away utf-8 reason", []byte("\x03\xe9au revoir, \u00e9t\u00e9 \U0001F600"), frame.CloseGoingAway, "au revoir, \u00e9t\u00e9 \U0001F600", nil},
		{"reason 123 bytes", closePayload(4000, strings.Repeat("x", 123)), 4000, strings.Repeat("x", 123), nil},
		{"invalid utf-8", []byte("\x03\xe8\xff"), frame.CloseNormal, "", frame.ErrCloseReason},
		{"truncated rune", []byte("\x03\xe8ok\xe2\x82"), frame.CloseNormal, "", frame.ErrCloseReason},
		{"surrogate", []byte("\x03\xe8\xed\xa0\x80"), frame.CloseNormal, "", frame.ErrCloseReason},
		{"overlong", []byte("\x03\xe8\xc0\xaf"), frame.CloseNormal, "", frame.ErrCloseReason},
		{"invalid code and reason", []byte("\x03\xed\xff"), 1005, "", frame.ErrCloseCode},
	}
	for _, code := range validCloseCodes {
		tests = append(tests, closeTest{"valid " + strconv.Itoa(int(code)), closePayload(uint16(code), "r"), code, "r", nil})
	}
	for _, code := range invalidCloseCodes {
		tests = append(tests, closeTest{"invalid " + strconv.Itoa(int(code)), closePayload(uint16(code), "r"), code, "", frame.ErrCloseCode})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := frame.ParseClose(tt.payload)
			if err != tt.err {
				t.Fatalf("ParseClose(% x) error = %v, want %v", tt.payload, err, tt.err)
			}
			if err == nil && (code != tt.code || string(reason) != tt.reason) {
				t.Errorf("ParseClose(% x) = %d, %q; want %d, %q", tt.payload, code, reason, tt.code, tt.reason)
			}
			if err == nil && tt.code != frame.CloseNoStatus && !code.Valid() {
				t.Errorf("ParseClose(% x) accepted code %d but Valid() is false", tt.payload, code)
			}
			if err != nil {
				if reason != nil {
					t.Errorf("ParseClose(% x) returned reason %q with an error", tt.payload, reason)
				}
				var fe *frame.Error
				if !errors.As(err, &fe) {
					t.Fatalf("ParseClose error %T is not a *frame.Error", err)
				}
				want := frame.CloseProtocolError
				if tt.err == frame.ErrCloseReason {
					want = frame.CloseInvalidPayload
				}
				if fe.Code != want {
					t.Errorf("ParseClose(% x) close code = %d, want %d", tt.payload, fe.Code, want)
				}
			}
		})
	}
}

func TestParseCloseReasonAliases(t *testing.T) {
	p := []byte("\x03\xe8bye")
	_, reason, err := frame.ParseClose(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(reason) != 3 || &reason[0] != &p[2] {
		t.Errorf("reason %q does not alias the payload", reason)
	}
}

func TestCloseCodeValid(t *testing.T) {
	valid := make(map[frame.CloseCode]bool)
	for _, c := range validCloseCodes {
		valid[c] = true
	}
	for c := 1000; c <= 1014; c++ {
		if c < 1004 || c > 1006 {
			valid[frame.CloseCode(c)] = true
		}
	}
	for c := 3000; c <= 4999; c++ {
		valid[frame.CloseCode(c)] = true
	}
	for c := range 1 << 16 {
		if got := frame.CloseCode(c).Valid(); got != valid[frame.CloseCode(c)] {
			t.Errorf("CloseCode(%d).Valid() = %v, want %v", c, got, !got)
		}
	}
}

func TestAppendClose(t *testing.T) {
	tests := []struct {
		code   frame.CloseCode
		reason string
		want   []byte
	}{
		{frame.CloseNormal, "", []byte{0x03, 0xe8}},
		{frame.CloseNormal, "bye", []byte("\x03\xe8bye")},
		{frame.CloseGoingAway, "\u00e9t\u00e9", []byte("\x03\xe9\xc3\xa9t\xc3\xa9")},
		{frame.CloseProtocolError, "x", []byte("\x03\xeax")},
		{4999, "app", []byte("\x13\x87app")},
		{frame.CloseNoStatus, "", nil},
		{frame.CloseNoStatus, "ignored", nil},
	}
	for _, tt := range tests {
		got := frame.AppendClose(nil, tt.code, tt.reason)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("AppendClose(nil, %d, %q) = % x, want % x", tt.code, tt.reason, got, tt.want)
		}
		got = frame.AppendClose([]byte("pre"), tt.code, tt.reason)
		if !bytes.Equal(got, append([]byte("pre"), tt.want...)) {
			t.Errorf("AppendClose(%q, %d, %q) = % x, want the prefix then % x", "pre", tt.code, tt.reason, got, tt.want)
		}
	}
}

func TestAppendCloseRoundTrip(t *testing.T) {
	reasons := []string{"", "bye", "au revoir, \u00e9t\u00e9 \U0001F600", strings.Repeat("r", frame.MaxCloseReason)}
	for _, code := range validCloseCodes {
		for _, reason := range reasons {
			p := frame.AppendClose(nil, code, reason)
			if len(p) > frame.MaxControlPayload {
				t.Errorf("AppendClose(%d, %q) is %d bytes, over a control frame's %d", code, reason, len(p), frame.MaxControlPayload)
			}
			gotCode, gotReason, err := frame.ParseClose(p)
			if err != nil || gotCode != code || string(gotReason) != reason {
				t.Errorf("ParseClose(AppendClose(%d, %q)) = %d, %q, %v", code, reason, gotCode, gotReason, err)
			}
		}
	}
	// CloseNoStatus round trips through the empty payload.
	code, reason, err := frame.ParseClose(frame.AppendClose(nil, frame.CloseNoStatus, "x"))
	if err != nil || code != frame.CloseNoStatus || len(reason) != 0 {
		t.Errorf("ParseClose(AppendClose(CloseNoStatus)) = %d, %q, %v", code, reason, err)
	}
}

func TestAppendCloseTruncate(t *testing.T) {
	a := strings.Repeat
	tests := []struct {
		name   string
		reason string
		want   string
	}{
		{"123 ascii", a("a", 123), a("a", 123)},
		{"124 ascii", a("a", 124), a("a", 123)},
		{"1000 ascii", a("a", 1000), a("a", 123)},
		{"2-byte rune ends at 123", a("a", 121) + "\u00e9" + "z", a("a", 121) + "\u00e9"},
		{"2-byte rune across 123", a("a", 122) + "\u00e9", a("a", 122)},
		{"3-byte rune ends at 123", a("a", 120) + "\u20ac" + "z", a("a", 120) + "\u20ac"},
		{"3-byte rune across 123 by 1", a("a", 121) + "\u20ac", a("a", 121)},
		{"3-byte rune across 123 by 2", a("a", 122) + "\u20ac", a("a", 122)},
		{"4-byte rune ends at 123", a("a", 119) + "\U0001F600" + "z", a("a", 119) + "\U0001F600"},
		{"4-byte rune across 123 by 1", a("a", 120) + "\U0001F600", a("a", 120)},
		{"4-byte rune across 123 by 3", a("a", 122) + "\U0001F600", a("a", 122)},
		{"all 3-byte runes", a("\u20ac", 50), a("\u20ac", 41)},
		{"all 4-byte runes", a("\U0001F600", 40), a("\U0001F600", 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := frame.AppendClose(nil, frame.CloseNormal, tt.reason)
			if got := string(p[2:]); got != tt.want {
				t.Errorf("AppendClose cut %d bytes to %d: %q, want %d: %q", len(tt.reason), len(got), got, len(tt.want), tt.want)
			}
			if len(p)-2 > frame.MaxCloseReason || !utf8.Valid(p[2:]) {
				t.Errorf("AppendClose reason is %d bytes, valid UTF-8 %v", len(p)-2, utf8.Valid(p[2:]))
			}
			if _, _, err := frame.ParseClose(p); err != nil {
				t.Errorf("ParseClose(AppendClose(...)) = %v", err)
			}
		})
	}
}

func TestCloseCodeString(t *testing.T) {
	for _, tt := range []struct {
		code frame.CloseCode
		want string
	}{
		{frame.CloseNormal, "1000 (normal closure)"},
		{frame.CloseAbnormal, "1006 (abnormal closure)"},
		{frame.CloseTryAgainLater, "1013 (try again later)"},
		{3000, "3000 (registered use)"},
		{4999, "4999 (private use)"},
		{999, "999"},
		{1004, "1004"},
	} {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", uint16(tt.code), got, tt.want)
		}
	}
}
