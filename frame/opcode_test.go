package frame_test

import (
	"testing"

	"github.com/pushwire/pushwire/frame"
)

func TestOpcode(t *testing.T) {
	tests := []struct {
		op       frame.Opcode
		control  bool
		reserved bool
		str      string
	}{
		{0x0, false, false, "continuation"},
		{0x1, false, false, "text"},
		{0x2, false, false, "binary"},
		{0x3, false, true, "reserved(0x3)"},
		{0x4, false, true, "reserved(0x4)"},
		{0x5, false, true, "reserved(0x5)"},
		{0x6, false, true, "reserved(0x6)"},
		{0x7, false, true, "reserved(0x7)"},
		{0x8, true, false, "close"},
		{0x9, true, false, "ping"},
		{0xA, true, false, "pong"},
		{0xB, true, true, "reserved(0xb)"},
		{0xC, true, true, "reserved(0xc)"},
		{0xD, true, true, "reserved(0xd)"},
		{0xE, true, true, "reserved(0xe)"},
		{0xF, true, true, "reserved(0xf)"},
	}
	for _, tt := range tests {
		if got := tt.op.IsControl(); got != tt.control {
			t.Errorf("Opcode(%#x).IsControl() = %v, want %v", byte(tt.op), got, tt.control)
		}
		if got := tt.op.IsReserved(); got != tt.reserved {
			t.Errorf("Opcode(%#x).IsReserved() = %v, want %v", byte(tt.op), got, tt.reserved)
		}
		if got := tt.op.String(); got != tt.str {
			t.Errorf("Opcode(%#x).String() = %q, want %q", byte(tt.op), got, tt.str)
		}
	}
	if frame.OpContinuation != 0 || frame.OpText != 1 || frame.OpBinary != 2 ||
		frame.OpClose != 8 || frame.OpPing != 9 || frame.OpPong != 0xA {
		t.Error("opcode constants differ from RFC 6455 section 5.2")
	}
}
