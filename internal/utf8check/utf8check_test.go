package utf8check

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

var cases = []string{
	"", "a", "hello", "κόσμε", "\u007f", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff",
	"\xc0\x80", "\xc1\xbf", "\xc2", "\xc2\x7f", "\xc2\xc0", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xe0\xa0\x80",
	"\xed\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x8f\xbf\xbf",
	"\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
	"\x80", "\xbf", "a\xe2\x82", "a\xe2\x82\xac", "\xf0\x9f\x98\x80tail", strings.Repeat("ascii", 10) + "\xce",
	strings.Repeat("é", 20), strings.Repeat("x", 17) + "\xe2\x28\xa1",
}

func TestValidMatchesStdlib(t *testing.T) {
	for _, s := range cases {
		if got, want := Valid([]byte(s)), utf8.ValidString(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}

// check feeds s split at the given points and compares with utf8.Valid,
// including where Write first fails.
func check(t *testing.T, s []byte, splits []int) {
	t.Helper()
	var v Validator
	prev, ok := 0, true
	for _, at := range append(splits, len(s)) {
		if ok = v.Write(s[prev:at]); !ok {
			// The text up to the piece before must have been a valid prefix,
			// and it must be invalid including this piece.
			if prefixValid(s[:at]) {
				t.Fatalf("%q split %v: failed at %d but %q is a valid prefix", s, splits, at, s[:at])
			}
			break
		}
		if !prefixValid(s[:at]) {
			t.Fatalf("%q split %v: accepted invalid prefix %q", s, splits, s[:at])
		}
		prev = at
	}
	if got, want := ok && v.Complete(), utf8.Valid(s); got != want {
		t.Fatalf("%q split %v: %v, want %v", s, splits, got, want)
	}
}

// prefixValid reports whether p can be extended to a valid text.
func prefixValid(p []byte) bool {
	for n := 0; n <= 3 && n <= len(p); n++ {
		if utf8.Valid(p[:len(p)-n]) {
			tail := p[len(p)-n:]
			if n == 0 {
				return true
			}
			for _, c := range []string{"\x80", "\x80\x80", "\x80\x80\x80", "\x90\x80\x80", "\xa0\x80", "\x8f\x80\x80", "\x9f\x80", "\xbf\xbf\xbf"} {
				if utf8.FullRune(append(append([]byte{}, tail...), c...)) && utf8.Valid(append(append([]byte{}, tail...), c[:min(len(c), 4-n)]...)) {
					return true
				}
			}
		}
	}
	return false
}

func TestEverySplit(t *testing.T) {
	for _, s := range cases {
		b := []byte(s)
		for i := 0; i <= len(b); i++ {
			check(t, b, []int{i})
			for j := i; j <= len(b); j++ {
				check(t, b, []int{i, j})
			}
		}
	}
}

func TestRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "é", "€", "😀", "\x80", "\xc3", "\xe2\x82", "\xf0\x9f", "\xed\xa0\x80", "\xf4\x90"}
	for range 20000 {
		var sb strings.Builder
		for range r.IntN(20) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		b := []byte(sb.String())
		var splits []int
		for at := 0; at < len(b); at += 1 + r.IntN(5) {
			splits = append(splits, at)
		}
		check(t, b, splits)
	}
}

func FuzzValidator(f *testing.F) {
	for _, s := range cases {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		var splits []int
		for at := 0; at < len(b); at += 1 + int(step%16) {
			splits = append(splits, at)
		}
		check(t, b, splits)
	})
}

func benchText(n int, multi bool) []byte {
	var sb strings.Builder
	for sb.Len() < n {
		if multi {
			sb.WriteString("Ünïcödé текст 中文字符 😀 ")
		} else {
			sb.WriteString("plain ascii text, ")
		}
	}
	b := []byte(sb.String())[:n]
	for !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return b
}

func BenchmarkValid(b *testing.B) {
	for _, multi := range []bool{false, true} {
		for _, n := range []int{1 << 10, 1 << 20} {
			text := benchText(n, multi)
			name := map[bool]string{false: "ascii", true: "mixed"}[multi] + map[int]string{1 << 10: "/1KiB", 1 << 20: "/1MiB"}[n]
			b.Run(name+"/pushwire", func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					Valid(text)
				}
			})
			b.Run(name+"/stdlib", func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					utf8.Valid(text)
				}
			})
		}
	}
}
