// Package utf8check validates UTF-8 text that arrives in pieces, failing at
// the first byte that makes it invalid: a WebSocket peer must fail a text
// message as soon as it cannot be valid, even in the middle of a frame.
package utf8check

import "encoding/binary"

// Validator checks a text delivered in pieces. The zero value is ready.
type Validator struct {
	need   uint8 // continuation bytes still expected
	lo, hi uint8 // the range of the next byte while need > 0
	bad    bool
}

// Write consumes p and reports whether the text so far can still be the
// prefix of a valid UTF-8 text. Once it returns false it stays false.
func (v *Validator) Write(p []byte) bool {
	if v.bad {
		return false
	}
	need, lo, hi := v.need, v.lo, v.hi
	i, n := 0, len(p)
	for i < n {
		if need > 0 {
			c := p[i]
			if c < lo || c > hi {
				v.bad = true
				return false
			}
			i++
			need, lo, hi = need-1, 0x80, 0xBF
			continue
		}
		for i+32 <= n {
			q := p[i : i+32]
			if (binary.LittleEndian.Uint64(q)|binary.LittleEndian.Uint64(q[8:])|
				binary.LittleEndian.Uint64(q[16:])|binary.LittleEndian.Uint64(q[24:]))&0x8080808080808080 != 0 {
				break
			}
			i += 32
		}
		for i+8 <= n && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		for i < n && p[i] < 0x80 {
			i++
		}
		if i == n {
			break
		}
		// A lead byte: the ranges of RFC 3629 section 4, which exclude
		// overlong forms, surrogates and code points past U+10FFFF.
		switch c := p[i]; {
		case c >= 0xC2 && c <= 0xDF:
			need, lo, hi = 1, 0x80, 0xBF
		case c == 0xE0:
			need, lo, hi = 2, 0xA0, 0xBF
		case c == 0xED:
			need, lo, hi = 2, 0x80, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need, lo, hi = 2, 0x80, 0xBF
		case c == 0xF0:
			need, lo, hi = 3, 0x90, 0xBF
		case c >= 0xF1 && c <= 0xF3:
			need, lo, hi = 3, 0x80, 0xBF
		case c == 0xF4:
			need, lo, hi = 3, 0x80, 0x8F
		default:
			v.bad = true
			return false
		}
		i++
	}
	v.need, v.lo, v.hi = need, lo, hi
	return true
}

// Complete reports whether the text so far is valid and ends on a character
// boundary.
func (v *Validator) Complete() bool { return !v.bad && v.need == 0 }

// Reset makes v ready for a new text.
func (v *Validator) Reset() { *v = Validator{} }

// Valid reports whether p is valid UTF-8, as unicode/utf8.Valid does.
func Valid(p []byte) bool {
	var v Validator
	return v.Write(p) && v.Complete()
}
