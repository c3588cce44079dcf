package conn_test

import (
	"errors"
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// Invalid message types are refused by the streamed and prepared writes
// too, and nothing goes on the wire: the connection still carries a valid
// message afterwards.
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
	// Close codes and reasons: internal/conntest, for every transport.
	if err := srv.WriteMessage(bg, conn.Text, []byte("still open")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := cli.ReadMessage(bg, nil); err != nil || string(msg) != "still open" {
		t.Fatalf("read %q %v", msg, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Close(conn.CloseNormal, "") }()
	cli.ReadMessage(bg, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
