package utf8check

import "encoding/binary"

const hiBits = 0x8080808080808080

// writeGeneric runs the DFA over p from state s and returns the new state.
func writeGeneric(s uint8, p []byte) uint8 {
	st := uint64(s)
	i, n := 0, len(p)
	for i < n {
		if st&63 == sAccept {
			// At a boundary ASCII needs no DFA: skip it 32 bytes a step.
			for i+32 <= n {
				w := p[i : i+32]
				if (binary.LittleEndian.Uint64(w)|binary.LittleEndian.Uint64(w[8:])|
					binary.LittleEndian.Uint64(w[16:])|binary.LittleEndian.Uint64(w[24:]))&hiBits != 0 {
					break
				}
				i += 32
			}
			for i+8 <= n && binary.LittleEndian.Uint64(p[i:])&hiBits == 0 {
				i += 8
			}
		}
		// Run the DFA over a stretch before looking for ASCII again; the
		// error state absorbs, so it is tested only at the end.
		end := min(i+16, n)
		for _, c := range p[i:end] {
			st = table[c] >> (st & 63)
		}
		if st&63 == sErr {
			return sErr
		}
		i = end
	}
	return uint8(st & 63)
}
