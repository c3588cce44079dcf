package utf8check

import "encoding/binary"

const hiBits = 0x8080808080808080

// writeGeneric runs the DFA over p from state s and returns the new state.
func writeGeneric(s uint8, p []byte) uint8 {
	st := uint64(s)
	for len(p) > 0 {
		if st&63 == sAccept {
			// At a boundary ASCII needs no DFA: skip it 16 bytes a step.
			for len(p) >= 16 && (binary.LittleEndian.Uint64(p)|binary.LittleEndian.Uint64(p[8:]))&hiBits == 0 {
				p = p[16:]
			}
			for len(p) >= 8 && binary.LittleEndian.Uint64(p)&hiBits == 0 {
				p = p[8:]
			}
		}
		// Run the DFA over a stretch before looking for ASCII again; the
		// error state absorbs, so it is tested only at the end.
		q := p[:min(len(p), 16)]
		p = p[len(q):]
		for _, c := range q {
			st = table[c] >> (st & 63)
		}
		if st&63 == sErr {
			return sErr
		}
	}
	return uint8(st & 63)
}
