package frame

// Opcode is the frame type of RFC 6455 section 5.2.
type Opcode byte

// The opcodes RFC 6455 defines: data frames (continuation, text, binary)
// and control frames (close, ping, pong).
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (close, ping, pong or reserved 0xB-0xF).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o is one of the opcodes RFC 6455 leaves undefined (0x3-0x7, 0xB-0xF).
func (o Opcode) IsReserved() bool {
	return (o > OpBinary && o < OpClose) || o > OpPong
}

// String returns the opcode's name, or its number for a reserved one.
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	const hex = "0123456789abcdef"
	return "reserved(0x" + hex[o&0xf:o&0xf+1] + ")"
}
