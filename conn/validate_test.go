package conn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// Invalid input is refused with an error, and nothing goes on the wire:
// the connection still carries a valid message afterwards.
func TestInvalidInputRefused(t *testing.T) {
	defer leaktest.Check(t)()
	srv, cli := connPair(t, transports[1], nil, nil)
	for _, typ := range []conn.MessageType{0, 3, 7, 8, 9, -1} {
		if err := srv.WriteMessage(bg, typ, []byte("x")); !errors.Is(err, conn.ErrMessageType) {
			t.Errorf("WriteMessage type %d: %v, want ErrMessageType", typ, err)
		}
		if _, err := srv.NextWriter(bg, typ); !errors.Is(err, conn.ErrMessageType) {
			t.Errorf("NextWriter type %d: %v, want ErrMessageType", typ, err)
		}
		if _, err := conn.NewPreparedMessage(typ, nil); !errors.Is(err, conn.ErrMessageType) {
			t.Errorf("NewPreparedMessage type %d: %v, want ErrMessageType", typ, err)
		}
	}
	for _, tt := range []struct {
		code   conn.CloseCode
		reason string
		want   error
	}{
		{999, "", conn.ErrCloseCode},
		{1004, "", conn.ErrCloseCode},
		{conn.CloseAbnormal, "", conn.ErrCloseCode},
		{1015, "", conn.ErrCloseCode},
		{5000, "", conn.ErrCloseCode},
		{conn.CloseNoStatus, "", conn.ErrCloseCode},
		{conn.CloseNormal, strings.Repeat("r", 124), conn.ErrCloseReason},
		{conn.CloseNormal, "\xff", conn.ErrCloseReason},
	} {
		if err := srv.Close(tt.code, tt.reason); !errors.Is(err, tt.want) {
			t.Errorf("Close(%d, %q): %v, want %v", tt.code, tt.reason, err, tt.want)
		}
	}
	if err := srv.WriteMessage(bg, conn.Text, []byte("still open")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := cli.ReadMessage(bg, nil); err != nil || string(msg) != "still open" {
		t.Fatalf("read %q %v", msg, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Close(4000, "private") }()
	_, _, err := cli.ReadMessage(bg, nil)
	if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Code != 4000 || ce.Reason != "private" {
		t.Fatalf("the peer read %v, want the close 4000 \"private\"", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
