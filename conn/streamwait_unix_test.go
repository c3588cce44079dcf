//go:build unix

package conn_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// cpuTime is the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWaitForStreamSleeps: a message waiting for a streamed message to end
// sleeps until then. It used to wait for frameMu's tokens, and took the
// one its own unlock left: a busy loop, a core's worth of CPU for as long
// as the stream stayed open.
func TestWaitForStreamSleeps(t *testing.T) {
	srv, cli := connPair(t, transports[1], nil, nil)
	go func() {
		for {
			if _, _, err := cli.ReadMessage(bg, nil); err != nil {
				return
			}
		}
	}()
	w, err := srv.NextWriter(bg, conn.Text)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("streamed "))
	sent := make(chan error, 1)
	go func() { sent <- srv.WriteMessage(bg, conn.Text, []byte("after")) }()

	const window = 300 * time.Millisecond
	before := cpuTime(t)
	time.Sleep(window)
	used := cpuTime(t) - before
	select {
	case err := <-sent:
		t.Fatalf("WriteMessage returned (%v) while a stream was open", err)
	default:
	}
	if used > window/2 {
		t.Errorf("the process used %v of CPU in %v while a writer waited: it spins", used, window)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WriteMessage still waiting after the stream ended")
	}
	srv.Close(conn.CloseNormal, "")
}
