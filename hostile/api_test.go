package hostile

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// pair dials our server (behind Accept, echoing) with our client.
func pair(t *testing.T) (*server, *conn.Conn) {
	t.Helper()
	s := startServer(t, viaAccept, nil, echo)
	c, err := conn.Dial(bg, "ws://"+s.addr+"/", nil)
	if err != nil {
		s.stop()
		t.Fatal(err)
	}
	return s, c
}

// okAfterClose reports whether err is one a call may return once the
// connection is closing or closed: nil if it got through first, ErrClosed,
// or how the connection ended.
func okAfterClose(err error) bool {
	_, isClose := errors.AsType[*conn.CloseError](err)
	return err == nil || errors.Is(err, conn.ErrClosed) || isClose
}

// Close from many goroutines while others write and one reads: every call
// returns, with nil or a clear error, and the server sees a normal close.
func TestCloseDuringWrites(t *testing.T) {
	defer leaktest.Check(t)()
	s, c := pair(t)
	defer s.stop()
	go func() {
		for {
			if _, _, err := c.ReadMessage(bg, nil); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				err := c.WriteMessage(bg, conn.Binary, make([]byte, 1000*i+j))
				if err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			w, err := c.NextWriter(bg, conn.Text)
			if err == nil {
				for range 20 {
					if _, err = w.Write(make([]byte, 3000)); err != nil {
						break
					}
				}
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
			errs <- err
		})
	}
	time.Sleep(5 * time.Millisecond)
	for range 8 {
		wg.Go(func() { errs <- c.Close(conn.CloseNormal, "") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !okAfterClose(err) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if err := outcome(t, s.results).err; conn.CloseStatus(err) != conn.CloseNormal {
		t.Errorf("server: %v", err)
	}
}

// Every call after Close fails with a clear error, at once.
func TestCallsAfterClose(t *testing.T) {
	defer leaktest.Check(t)()
	s, c := pair(t)
	defer s.stop()
	if err := c.Close(conn.CloseNormal, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	start := time.Now()
	calls := []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"ReadMessage", func() error { _, _, err := c.ReadMessage(bg, nil); return err }, isNormalClose},
		{"NextReader", func() error { _, _, err := c.NextReader(bg); return err }, isNormalClose},
		{"WriteMessage", func() error { return c.WriteMessage(bg, conn.Text, []byte("late")) }, isErrClosed},
		{"NextWriter", func() error {
			w, err := c.NextWriter(bg, conn.Binary)
			if err != nil {
				return err
			}
			w.Write([]byte("late"))
			return w.Close()
		}, isErrClosed},
		{"Ping", func() error { return c.Ping(bg, nil) }, isErrClosed},
		{"Close again", func() error { return c.Close(conn.CloseNormal, "") }, func(err error) bool { return err == nil }},
	}
	for _, call := range calls {
		if err := call.call(); !call.want(err) {
			t.Errorf("%s after Close: %v", call.name, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("calls after Close took %v", d)
	}
	if err := outcome(t, s.results).err; conn.CloseStatus(err) != conn.CloseNormal {
		t.Errorf("server: %v", err)
	}
}

func isNormalClose(err error) bool { return conn.CloseStatus(err) == conn.CloseNormal }
func isErrClosed(err error) bool   { return errors.Is(err, conn.ErrClosed) }

// A reader blocked in ReadMessage while another goroutine closes gets the
// close, and Close completes the handshake.
func TestCloseWhileReading(t *testing.T) {
	defer leaktest.Check(t)()
	s, c := pair(t)
	defer s.stop()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(bg, nil)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := c.Close(4000, "done"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; !isCloseCode(err, 4000) {
		t.Fatalf("ReadMessage: %v", err)
	}
	if err := outcome(t, s.results).err; !isCloseCode(err, 4000) {
		t.Fatalf("server: %v", err)
	}
}

func isCloseCode(err error, code conn.CloseCode) bool { return conn.CloseStatus(err) == code }

// Writes racing a connection that the peer fails: they end with clear
// errors, never a panic or a hang.
func TestWritesWhilePeerFails(t *testing.T) {
	defer leaktest.Check(t)()
	rg := setup(t, viaAccept, conn.Options{}, false, func(c *conn.Conn) served {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for {
					if err := c.WriteMessage(bg, conn.Text, []byte("tick")); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		_, _, err := c.ReadMessage(bg, nil)
		wg.Wait()
		close(errs)
		for werr := range errs {
			if !okAfterClose(werr) {
				return served{err: werr}
			}
		}
		return served{err: err}
	})
	defer rg.stop()
	time.Sleep(20 * time.Millisecond)
	rg.Send(true, 0xB, nil) // a reserved opcode
	rg.ExpectClose(1002)
	closeError(t, outcome(t, rg.result).err, 1002, true, nil)
}
