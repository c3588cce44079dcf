// Package conntest checks an implementation of conn.MessageConn against the
// contract its doc states, as x/net's nettest does for net.Conn: the same
// tests run against every transport.
package conntest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// MakePair returns the two ends of a fresh connection, and a function that
// releases what the pair needed once both ends are closed.
type MakePair func(t *testing.T) (a, b conn.MessageConn, stop func())

// Run runs the contract's tests on connections made by makePair, in both
// directions.
func Run(t *testing.T, makePair MakePair) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b conn.MessageConn)
	}{
		{"RoundTrip", roundTrip},
		{"ConcurrentWriters", concurrentWriters},
		{"InvalidType", invalidType},
		{"InvalidClose", invalidClose},
		{"CloseReachesPeer", closeReachesPeer},
		{"CancelledRead", cancelledRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, stop := makePair(t)
			defer stop()
			tt.fn(t, a, b)
		})
	}
}

var bg = context.Background()

func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(bg, 10*time.Second)
}

// closeBoth closes a while b reads the close.
func closeBoth(t *testing.T, a, b conn.MessageConn) {
	t.Helper()
	read := make(chan error, 1)
	go func() {
		ctx, cancel := timeout()
		defer cancel()
		for {
			if _, _, err := b.ReadMessage(ctx, nil); err != nil {
				read <- err
				return
			}
		}
	}()
	if err := a.Close(conn.CloseNormal, "done"); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-read; conn.CloseStatus(err) != conn.CloseNormal {
		t.Errorf("the peer read %v, want the close 1000", err)
	}
	b.Close(conn.CloseNormal, "")
}

// Messages of every size and both types arrive whole, in order, each once.
func roundTrip(t *testing.T, a, b conn.MessageConn) {
	ctx, cancel := timeout()
	defer cancel()
	var sent [][]byte
	var types []conn.MessageType
	for i, n := range []int{0, 1, 125, 126, 1 << 10, 64 << 10} {
		typ := []conn.MessageType{conn.Text, conn.Binary}[i%2]
		p := bytes.Repeat([]byte{'a' + byte(i)}, n)
		if err := a.WriteMessage(ctx, typ, p); err != nil {
			t.Fatalf("write %d bytes: %v", n, err)
		}
		sent, types = append(sent, p), append(types, typ)
	}
	for i := range sent {
		typ, got, err := b.ReadMessage(ctx, nil)
		if err != nil || typ != types[i] || !bytes.Equal(got, sent[i]) {
			t.Fatalf("message %d: %v, %d bytes, %v; want %v, %d bytes", i, typ, len(got), err, types[i], len(sent[i]))
		}
	}
	closeBoth(t, a, b)
}

// Writers at once: each one's messages arrive in its order.
func concurrentWriters(t *testing.T, a, b conn.MessageConn) {
	ctx, cancel := timeout()
	defer cancel()
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := a.WriteMessage(ctx, conn.Text, fmt.Appendf(nil, "%d %d", w, i)); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	next := make([]int, writers)
	for range writers * each {
		_, msg, err := b.ReadMessage(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var w, i int
		fmt.Sscanf(string(msg), "%d %d", &w, &i)
		if i != next[w] {
			t.Fatalf("writer %d: message %d arrived when %d was next", w, i, next[w])
		}
		next[w]++
	}
	wg.Wait()
	closeBoth(t, a, b)
}

// Types other than text and binary are refused, and nothing is sent.
func invalidType(t *testing.T, a, b conn.MessageConn) {
	ctx, cancel := timeout()
	defer cancel()
	for _, typ := range []conn.MessageType{0, 3, 7, 8, 9, 10} {
		if err := a.WriteMessage(ctx, typ, []byte("x")); !errors.Is(err, conn.ErrMessageType) {
			t.Errorf("WriteMessage type %d: %v, want ErrMessageType", typ, err)
		}
	}
	if err := a.WriteMessage(ctx, conn.Text, []byte("valid")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := b.ReadMessage(ctx, nil); err != nil || string(msg) != "valid" {
		t.Fatalf("the peer read %q %v, want only the valid message", msg, err)
	}
	closeBoth(t, a, b)
}

// Close codes and reasons that may not be sent are refused, and the
// connection stays open.
func invalidClose(t *testing.T, a, b conn.MessageConn) {
	ctx, cancel := timeout()
	defer cancel()
	rows := []struct {
		code   conn.CloseCode
		reason string
		want   error
	}{
		{999, "", conn.ErrCloseCode},
		{1004, "", conn.ErrCloseCode},
		{conn.CloseNoStatus, "", conn.ErrCloseCode},
		{conn.CloseAbnormal, "", conn.ErrCloseCode},
		{1015, "", conn.ErrCloseCode},
		{5000, "", conn.ErrCloseCode},
		{conn.CloseNormal, strings.Repeat("r", 124), conn.ErrCloseReason},
		{conn.CloseNormal, "\xff", conn.ErrCloseReason},
	}
	for _, r := range rows {
		if err := a.Close(r.code, r.reason); !errors.Is(err, r.want) {
			t.Errorf("Close(%d, %d bytes): %v, want %v", r.code, len(r.reason), err, r.want)
		}
	}
	if err := a.WriteMessage(ctx, conn.Text, []byte("still open")); err != nil {
		t.Fatalf("after refused closes: %v", err)
	}
	if _, msg, err := b.ReadMessage(ctx, nil); err != nil || string(msg) != "still open" {
		t.Fatalf("the peer read %q %v", msg, err)
	}
	closeBoth(t, a, b)
}

// A valid close reaches the peer with its code and reason; reads after it
// keep returning it; Close again is harmless.
func closeReachesPeer(t *testing.T, a, b conn.MessageConn) {
	read := make(chan error, 1)
	go func() {
		ctx, cancel := timeout()
		defer cancel()
		_, _, err := b.ReadMessage(ctx, nil)
		read <- err
	}()
	if err := a.Close(4001, "private reason"); err != nil {
		t.Errorf("Close: %v", err)
	}
	err := <-read
	ce, ok := errors.AsType[*conn.CloseError](err)
	if !ok || ce.Code != 4001 || ce.Reason != "private reason" || ce.Local {
		t.Fatalf("the peer read %v, want the close 4001 \"private reason\" from the peer", err)
	}
	ctx, cancel := timeout()
	defer cancel()
	if _, _, err := b.ReadMessage(ctx, nil); conn.CloseStatus(err) != 4001 {
		t.Errorf("a second read: %v, want the same close", err)
	}
	a.Close(conn.CloseNormal, "")
	b.Close(conn.CloseNormal, "")
}

// A cancelled context ends a read and leaves the connection usable.
func cancelledRead(t *testing.T, a, b conn.MessageConn) {
	short, cancelShort := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancelShort()
	if _, _, err := b.ReadMessage(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read with nothing to read: %v, want the context's error", err)
	}
	ctx, cancel := timeout()
	defer cancel()
	if err := a.WriteMessage(ctx, conn.Binary, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := b.ReadMessage(ctx, nil); err != nil || string(msg) != "after" {
		t.Fatalf("read after a cancelled one: %q %v", msg, err)
	}
	closeBoth(t, a, b)
}
