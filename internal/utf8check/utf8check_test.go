package utf8check

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// The boundary cases of RFC 3629 section 4 and the Autobahn 6.x kinds of
// error. bad is the index of the first byte that makes the text invalid,
// -1 if there is none; complete is whether the text is valid as a whole.
var cases = []struct {
	s        string
	bad      int
	complete bool
}{
	{"", -1, true},
	{"a", -1, true},
	{"hello", -1, true},
	{"κόσμε", -1, true},
	{"\x00", -1, true},
	{"\x7f", -1, true},
	{"\xc2\x80", -1, true},         // U+0080, the first 2-byte
	{"\xdf\xbf", -1, true},         // U+07FF
	{"\xe0\xa0\x80", -1, true},     // U+0800, the first 3-byte
	{"\xed\x9f\xbf", -1, true},     // U+D7FF, below the surrogates
	{"\xee\x80\x80", -1, true},     // U+E000, above them
	{"\xef\xbf\xbd", -1, true},     // U+FFFD
	{"\xef\xbf\xbf", -1, true},     // U+FFFF
	{"\xf0\x90\x80\x80", -1, true}, // U+10000, the first 4-byte
	{"\xf4\x8f\xbf\xbf", -1, true}, // U+10FFFF, the last
	{"\xf3\xbf\xbf\xbf", -1, true},
	{"\xc2", -1, false},
	{"\xe0\xa0", -1, false},
	{"\xf0\x90\x80", -1, false},
	{"\xf4\x8f", -1, false},
	{"a\xe2\x82", -1, false},
	{"\x80", 0, false}, // lone continuations
	{"\xbf", 0, false},
	{"a\x80", 1, false},
	{"\xc0", 0, false}, // C0, C1: always overlong
	{"\xc0\x80", 0, false},
	{"\xc1\xbf", 0, false},
	{"\xf5", 0, false}, // F5..FF: never in UTF-8
	{"\xf5\x80\x80\x80", 0, false},
	{"\xf7\xbf\xbf\xbf", 0, false},
	{"\xf8\x88\x80\x80\x80", 0, false},
	{"\xfe", 0, false},
	{"\xff", 0, false},
	{"\xc2\x7f", 1, false}, // a continuation missing
	{"\xc2\xc0", 1, false},
	{"\xc2\xc2\x80", 1, false},
	{"\xe2\x28\xa1", 1, false},
	{"\xe2\x82\x28", 2, false},
	{"\xf0\x9f\x98\x28", 3, false},
	{"\xe0\x80\x80", 1, false}, // overlong 3-byte
	{"\xe0\x9f\xbf", 1, false},
	{"\xf0\x80\x80\x80", 1, false}, // overlong 4-byte
	{"\xf0\x8f\xbf\xbf", 1, false},
	{"\xed\xa0\x80", 1, false}, // U+D800, a surrogate
	{"\xed\xbf\xbf", 1, false}, // U+DFFF
	{"\xed\xa0\x80\xed\xb0\x80", 1, false},
	{"\xf4\x90\x80\x80", 1, false}, // U+110000, too large
	{"\xf4\x90", 1, false},
	{"\xf4\xbf\xbf\xbf", 1, false},
	{"\xc2\x80\x80", 2, false}, // one continuation too many
	{"\xe2\x82\xac\x80", 3, false},
	{"\xf0\x9f\x98\x80\x80", 4, false},
	{"\xf0\x9f\x98\x80tail", -1, true},
	{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", 12, false}, // Autobahn 6.4.2
	{strings.Repeat("ascii", 20) + "\xce", -1, false},
	{strings.Repeat("é", 40), -1, true},
	{strings.Repeat("x", 70) + "\xe2\x28\xa1", 71, false},
}

// impls are every way of validating this build can use; each must agree.
type impl struct {
	name  string
	write func(s uint8, p []byte) uint8
}

func allImpls() []impl {
	return append([]impl{{"write", write}, {"generic", writeGeneric}}, asmImpls()...)
}

// validPrefix reports whether p can be extended to a valid text. The second
// byte of a sequence is the only one with a range other than 80..BF, and
// each of its ranges holds 80, 90 or A0.
func validPrefix(p []byte) bool {
	for n := range 4 {
		for _, c := range []byte{0x80, 0x90, 0xA0} {
			if utf8.Valid(append(bytes.Clone(p), []byte{c, 0x80, 0x80}[:n]...)) {
				return true
			}
		}
	}
	return false
}

// firstBad is the index of the first byte after which p is no valid
// prefix, or -1.
func firstBad(p []byte) int {
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError || n > 1 {
			i += n
			continue
		}
		// The text is valid up to i: the culprit is among the next 4 bytes.
		for k := 1; k <= 4 && i+k <= len(p); k++ {
			if !validPrefix(p[i : i+k]) {
				return i + k - 1
			}
		}
		return -1 // an incomplete sequence at the end
	}
	return -1
}

func TestOracle(t *testing.T) {
	for _, c := range cases {
		if bad := firstBad([]byte(c.s)); bad != c.bad {
			t.Errorf("%q: the oracle says the first bad byte is %d, the table %d", c.s, bad, c.bad)
		}
		if utf8.ValidString(c.s) != c.complete {
			t.Errorf("%q: utf8.ValidString disagrees with the table", c.s)
		}
	}
}

func TestTable(t *testing.T) {
	for _, c := range cases {
		if got := Valid([]byte(c.s)); got != c.complete {
			t.Errorf("Valid(%q) = %v, want %v", c.s, got, c.complete)
		}
		// Byte by byte, Write must fail exactly at the bad byte.
		var v Validator
		for i := range len(c.s) {
			if ok := v.Write([]byte{c.s[i]}); ok != (c.bad < 0 || i < c.bad) {
				t.Errorf("%q: Write of byte %d = %v, first bad byte %d", c.s, i, ok, c.bad)
				break
			}
		}
		if v.Complete() != c.complete {
			t.Errorf("%q: Complete() = %v, want %v", c.s, v.Complete(), c.complete)
		}
		if c.bad >= 0 && v.Write([]byte("a")) {
			t.Errorf("%q: Write succeeded after a failure", c.s)
		}
		v.Reset()
		if !v.Complete() || !v.Write([]byte("ok")) {
			t.Errorf("%q: Reset did not start afresh", c.s)
		}
	}
}

// check feeds p to m in pieces split at splits. Each piece must fail if and
// only if it holds the first bad byte, and the end state must agree with
// utf8.Valid.
func check(t *testing.T, m impl, p []byte, splits []int) {
	t.Helper()
	bad := firstBad(p)
	s, prev := uint8(sAccept), 0
	for _, at := range append(splits, len(p)) {
		s = m.write(s, p[prev:at])
		if want := bad < 0 || at <= bad; (s != sErr) != want {
			t.Fatalf("%s %q split %v: piece %d:%d ok=%v, first bad byte %d", m.name, p, splits, prev, at, s != sErr, bad)
		}
		if s == sErr {
			return
		}
		prev = at
	}
	if (s == sAccept) != utf8.Valid(p) {
		t.Fatalf("%s %q split %v: complete=%v, utf8.Valid=%v", m.name, p, splits, s == sAccept, utf8.Valid(p))
	}
}

func TestEverySplit(t *testing.T) {
	for _, m := range allImpls() {
		for _, c := range cases {
			p := []byte(c.s)
			for i := 0; i <= len(p); i++ {
				for j := i; j <= len(p); j++ {
					check(t, m, p, []int{i, j})
				}
			}
		}
	}
}

// fragments make random texts dense in sequence boundaries and in errors.
var fragments = []string{
	"a", "xyzw", "é", "€", "😀", "\U0010ffff", "\u0800", "\ud7ff", "\ue000",
	"\x80", "\xbf", "\xc0", "\xc3", "\xe0", "\xe2\x82", "\xed", "\xf0\x9f", "\xf4", "\xf5", "\xff",
	"\xed\xa0\x80", "\xf4\x90", "\xe0\x80", "\xf0\x80",
}

func randomText(r *rand.Rand, n int, errRate int) []byte {
	var b []byte
	for len(b) < n {
		f := fragments[r.IntN(9)]
		if r.IntN(errRate) == 0 {
			f = fragments[r.IntN(len(fragments))]
		}
		if r.IntN(3) == 0 {
			f = strings.Repeat("p", r.IntN(100)) // long ASCII runs for the fast paths
		}
		b = append(b, f...)
	}
	return b
}

func TestRandomShort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range allImpls() {
		for range 3000 {
			p := randomText(r, r.IntN(40), 10)
			for i := 0; i <= len(p); i++ {
				check(t, m, p, []int{i})
			}
		}
	}
}

func TestRandomLong(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, m := range allImpls() {
		for range 3000 {
			p := randomText(r, r.IntN(3000), 1+r.IntN(300))
			var splits []int
			for at := r.IntN(200); at < len(p); at += 1 + r.IntN(300) {
				splits = append(splits, at)
			}
			check(t, m, p, splits)
		}
	}
}

// A single bad byte at every offset of a long valid text, so that it falls
// at every position of a SIMD block.
func TestOneBadByte(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	text := randomText(r, 400, 1<<30)
	for _, m := range allImpls() {
		for i := range text {
			p := bytes.Clone(text)
			p[i] = []byte{0x80, 0xc0, 0xf5, 0xff, 'a', 0xe0}[i%6]
			check(t, m, p, nil)
			check(t, m, p, []int{i})
		}
	}
}

func TestAllocs(t *testing.T) {
	p := randomText(rand.New(rand.NewPCG(1, 1)), 4096, 1<<30)
	var v Validator
	if n := testing.AllocsPerRun(100, func() { v.Reset(); v.Write(p) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func FuzzValidator(f *testing.F) {
	// block straddle
	f.Add([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xf0\x9f\x98\x80bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\xe2\x82"), uint8(63), uint16(62))
	// overlong
	f.Add([]byte("\xc0\x80"), uint8(255), uint16(0))
	// surrogate autobahn
	f.Add([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"), uint8(2), uint16(11))
	// too large split
	f.Add([]byte("\xf4\x90\x80\x80"), uint8(0), uint16(1))
	for _, c := range cases {
		f.Add([]byte(c.s), uint8(1), uint16(0))
	}
	f.Fuzz(func(t *testing.T, p []byte, step uint8, first uint16) {
		splits := []int{min(int(first), len(p))}
		for at := splits[0] + 1 + int(step); at < len(p); at += 1 + int(step) {
			splits = append(splits, at)
		}
		for _, m := range allImpls() {
			check(t, m, p, splits)
		}
	})
}

// benchText is ASCII, or an even mix of 1-, 2-, 3- and 4-byte runes.
func benchText(n int, mixed bool) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	runes := []rune{'a', 'é', '€', '😀'}
	var b []byte
	for len(b) < n {
		c := rune('a' + r.IntN(26))
		if mixed {
			c = runes[r.IntN(4)] + rune(r.IntN(64))
		}
		b = utf8.AppendRune(b, c)
	}
	for len(b) > n || !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return b
}

func BenchmarkValid(b *testing.B) {
	for _, kind := range []string{"ascii", "mixed"} {
		for _, n := range []int{1 << 10, 1 << 20} {
			text := benchText(n, kind == "mixed")
			for _, m := range append(allImpls(), impl{"utf8.Valid", nil}) {
				b.Run(fmt.Sprintf("%s/%dKiB/%s", kind, n>>10, m.name), func(b *testing.B) {
					b.SetBytes(int64(len(text)))
					b.ReportAllocs()
					for b.Loop() {
						if m.write == nil {
							utf8.Valid(text)
						} else {
							m.write(sAccept, text)
						}
					}
				})
			}
		}
	}
}
