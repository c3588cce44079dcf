package frame_test

import (
	"errors"
	"testing"

	"github.com/pushwire/pushwire/frame"
)

// Headers as a client sends them (masked) for a server's Checker; the tests
// flip Masked for the client's Checker.
func hdr(fin bool, rsv byte, op frame.Opcode) frame.Header {
	return frame.Header{Fin: fin, Rsv: rsv, Op: op, Masked: true, Key: key}
}

type step struct {
	h   frame.Header
	err error // nil, or the rule broken
	in  bool  // InMessage after the step
}

var checkerTests = []struct {
	name  string
	rsv   byte
	steps []step
}{
	{"single text", 0, []step{
		{hdr(true, 0, frame.OpText), nil, false},
		{hdr(true, 0, frame.OpBinary), nil, false},
	}},
	{"fragmented text", 0, []step{
		{hdr(false, 0, frame.OpText), nil, true},
		{hdr(false, 0, frame.OpContinuation), nil, true},
		{hdr(true, 0, frame.OpContinuation), nil, false},
		{hdr(true, 0, frame.OpBinary), nil, false},
	}},
	{"control frames inside a fragmented message", 0, []step{
		{hdr(false, 0, frame.OpBinary), nil, true},
		{hdr(true, 0, frame.OpPing), nil, true},
		{hdr(false, 0, frame.OpContinuation), nil, true},
		{hdr(true, 0, frame.OpPong), nil, true},
		{hdr(true, 0, frame.OpClose), nil, true},
		{hdr(true, 0, frame.OpContinuation), nil, false},
	}},
	{"control frames outside a message", 0, []step{
		{hdr(true, 0, frame.OpPing), nil, false},
		{hdr(true, 0, frame.OpPong), nil, false},
		{hdr(true, 0, frame.OpClose), nil, false},
	}},
	{"continuation without start", 0, []step{
		{hdr(false, 0, frame.OpContinuation), frame.ErrUnexpectedContinuation, false},
		{hdr(true, 0, frame.OpContinuation), frame.ErrUnexpectedContinuation, false},
	}},
	{"continuation after the final fragment", 0, []step{
		{hdr(false, 0, frame.OpText), nil, true},
		{hdr(true, 0, frame.OpContinuation), nil, false},
		{hdr(true, 0, frame.OpContinuation), frame.ErrUnexpectedContinuation, false},
	}},
	{"continuation after a complete message", 0, []step{
		{hdr(true, 0, frame.OpText), nil, false},
		{hdr(true, 0, frame.OpContinuation), frame.ErrUnexpectedContinuation, false},
	}},
	{"text inside a fragmented message", 0, []step{
		{hdr(false, 0, frame.OpText), nil, true},
		{hdr(true, 0, frame.OpText), frame.ErrExpectedContinuation, true},
		{hdr(false, 0, frame.OpBinary), frame.ErrExpectedContinuation, true},
	}},
	{"binary inside a fragmented message after a ping", 0, []step{
		{hdr(false, 0, frame.OpBinary), nil, true},
		{hdr(true, 0, frame.OpPing), nil, true},
		{hdr(true, 0, frame.OpBinary), frame.ErrExpectedContinuation, true},
	}},
	{"rsv without extension", 0, []step{
		{hdr(true, frame.Rsv1, frame.OpText), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv2, frame.OpBinary), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv3, frame.OpText), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv1, frame.OpPing), frame.ErrReservedBits, false},
		{hdr(false, 7, frame.OpBinary), frame.ErrReservedBits, false},
	}},
	{"rsv1 with extension", frame.Rsv1, []step{
		{hdr(true, frame.Rsv1, frame.OpText), nil, false},
		{hdr(true, frame.Rsv1, frame.OpBinary), nil, false},
		{hdr(false, frame.Rsv1, frame.OpText), nil, true},
		{hdr(true, 0, frame.OpContinuation), nil, false},
		{hdr(true, 0, frame.OpText), nil, false},
	}},
	{"rsv1 on continuation", frame.Rsv1, []step{
		{hdr(false, frame.Rsv1, frame.OpText), nil, true},
		{hdr(false, frame.Rsv1, frame.OpContinuation), frame.ErrReservedBits, true},
		{hdr(true, frame.Rsv1, frame.OpContinuation), frame.ErrReservedBits, true},
		{hdr(true, 0, frame.OpContinuation), nil, false},
	}},
	{"rsv1 on control", frame.Rsv1, []step{
		{hdr(true, frame.Rsv1, frame.OpPing), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv1, frame.OpPong), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv1, frame.OpClose), frame.ErrReservedBits, false},
		{hdr(false, frame.Rsv1, frame.OpBinary), nil, true},
		{hdr(true, frame.Rsv1, frame.OpPing), frame.ErrReservedBits, true},
	}},
	{"rsv bits outside the extension's", frame.Rsv1, []step{
		{hdr(true, frame.Rsv2, frame.OpText), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv3, frame.OpText), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv1|frame.Rsv2, frame.OpText), frame.ErrReservedBits, false},
		{hdr(true, frame.Rsv1, frame.OpText), nil, false},
	}},
	{"two extension bits", frame.Rsv1 | frame.Rsv3, []step{
		{hdr(true, frame.Rsv1|frame.Rsv3, frame.OpText), nil, false},
		{hdr(true, frame.Rsv3, frame.OpBinary), nil, false},
		{hdr(true, frame.Rsv2, frame.OpBinary), frame.ErrReservedBits, false},
		{hdr(true, 7, frame.OpBinary), frame.ErrReservedBits, false},
	}},
}

func TestChecker(t *testing.T) {
	for _, tt := range checkerTests {
		for _, server := range []bool{true, false} {
			role := "client"
			if server {
				role = "server"
			}
			t.Run(tt.name+"/"+role, func(t *testing.T) {
				c := frame.Checker{Server: server, Rsv: tt.rsv}
				if c.InMessage() {
					t.Fatal("InMessage() = true before any frame")
				}
				for i, s := range tt.steps {
					h := s.h
					if !server {
						h.Masked, h.Key = false, [4]byte{}
					}
					err := c.Check(h)
					if !errors.Is(err, s.err) || (err == nil) != (s.err == nil) {
						t.Errorf("step %d: Check(%+v) = %v, want %v", i, h, err, s.err)
					}
					if err != nil {
						var fe *frame.Error
						if !errors.As(err, &fe) || fe.Code != frame.CloseProtocolError {
							t.Errorf("step %d: Check(%+v) = %v, want a *frame.Error with code %d", i, h, err, frame.CloseProtocolError)
						}
					}
					if got := c.InMessage(); got != s.in {
						t.Errorf("step %d: after Check(%+v), InMessage() = %v, want %v", i, h, got, s.in)
					}
				}
			})
		}
	}
}

func TestCheckerMasking(t *testing.T) {
	tests := []struct {
		server, masked bool
		err            error
	}{
		{server: true, masked: true, err: nil},
		{server: true, masked: false, err: frame.ErrUnmasked},
		{server: false, masked: false, err: nil},
		{server: false, masked: true, err: frame.ErrMasked},
	}
	for _, tt := range tests {
		for _, op := range []frame.Opcode{frame.OpText, frame.OpBinary, frame.OpPing, frame.OpPong, frame.OpClose} {
			c := frame.Checker{Server: tt.server, Rsv: frame.Rsv1}
			h := frame.Header{Fin: true, Op: op, Masked: tt.masked}
			if err := c.Check(h); err != tt.err {
				t.Errorf("Checker{Server: %v}.Check(%+v) = %v, want %v", tt.server, h, err, tt.err)
			}
		}
		// The masking rule comes first and leaves the state alone.
		c := frame.Checker{Server: tt.server}
		h := frame.Header{Op: frame.OpText, Masked: tt.masked}
		err := c.Check(h)
		if err != tt.err {
			t.Errorf("Checker{Server: %v}.Check(%+v) = %v, want %v", tt.server, h, err, tt.err)
		}
		if want := err == nil; c.InMessage() != want {
			t.Errorf("Checker{Server: %v}.Check(%+v): InMessage() = %v, want %v", tt.server, h, c.InMessage(), want)
		}
	}
}

func TestCheckerZeroValueIsClient(t *testing.T) {
	var c frame.Checker
	if err := c.Check(frame.Header{Fin: true, Op: frame.OpText}); err != nil {
		t.Errorf("zero Checker rejected an unmasked frame: %v", err)
	}
	if err := c.Check(frame.Header{Fin: true, Op: frame.OpText, Masked: true}); err != frame.ErrMasked {
		t.Errorf("zero Checker on a masked frame = %v, want ErrMasked", err)
	}
	if err := c.Check(frame.Header{Fin: true, Rsv: frame.Rsv1, Op: frame.OpText}); err != frame.ErrReservedBits {
		t.Errorf("zero Checker on RSV1 = %v, want ErrReservedBits", err)
	}
}
