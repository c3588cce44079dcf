package utf8check

// The validator is a DFA over the byte ranges of RFC 3629 section 4. Each
// state is a bit offset into a uint64 row of table, so a step is one load
// and one shift: next = table[b] >> state (Per Vognsen's shift DFA). The
// low 6 bits of the shifted row are the next state.
const (
	sAccept = 0  // at a character boundary
	sErr    = 6  // invalid; every row maps sErr to itself
	s1      = 12 // one continuation byte 80..BF to go
	s2      = 18 // two to go
	s3      = 24 // three to go
	sE0     = 30 // after E0: A0..BF, then one more (no overlongs)
	sED     = 36 // after ED: 80..9F, then one more (no surrogates)
	sF0     = 42 // after F0: 90..BF, then two more (no overlongs)
	sF4     = 48 // after F4: 80..8F, then two more (nothing past U+10FFFF)
)

var table = func() (t [256]uint64) {
	for b := range 256 {
		next := func(from, to uint64) { t[b] |= to << from }
		next(sErr, sErr)
		switch {
		case b < 0x80:
			next(sAccept, sAccept)
		case b >= 0xC2 && b <= 0xDF:
			next(sAccept, s1)
		case b == 0xE0:
			next(sAccept, sE0)
		case b == 0xED:
			next(sAccept, sED)
		case b >= 0xE1 && b <= 0xEF:
			next(sAccept, s2)
		case b == 0xF0:
			next(sAccept, sF0)
		case b >= 0xF1 && b <= 0xF3:
			next(sAccept, s3)
		case b == 0xF4:
			next(sAccept, sF4)
		default: // 80..BF, C0, C1, F5..FF
			next(sAccept, sErr)
		}
		cont := func(from, to uint64, lo, hi int) {
			if b >= lo && b <= hi {
				next(from, to)
			} else {
				next(from, sErr)
			}
		}
		cont(s1, sAccept, 0x80, 0xBF)
		cont(s2, s1, 0x80, 0xBF)
		cont(s3, s2, 0x80, 0xBF)
		cont(sE0, s1, 0xA0, 0xBF)
		cont(sED, s1, 0x80, 0x9F)
		cont(sF0, s2, 0x90, 0xBF)
		cont(sF4, s2, 0x80, 0x8F)
	}
	return t
}()

// Validator checks a UTF-8 text delivered in pieces. The zero value is
// ready.
type Validator struct {
	state uint8
}

// Write consumes p. It returns false as soon as the text so far can no
// longer be the prefix of a valid UTF-8 text, that is in the call whose p
// holds the first byte that makes it invalid, even when that byte continues
// a sequence begun in an earlier call. Once false, it stays false.
func (v *Validator) Write(p []byte) bool {
	if v.state == sErr {
		return false
	}
	v.state = write(v.state, p)
	return v.state != sErr
}

// Complete reports whether the text so far is valid and ends on a character
// boundary: call it at the end of a message.
func (v *Validator) Complete() bool { return v.state == sAccept }

// Reset makes v ready for a new text.
func (v *Validator) Reset() { v.state = sAccept }

// Valid reports whether p is a complete valid UTF-8 text, as
// unicode/utf8.Valid does.
func Valid(p []byte) bool { return write(sAccept, p) == sAccept }
