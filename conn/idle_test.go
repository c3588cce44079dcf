//go:build unix

package conn_test

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// Connections parked in ReadMessage over TCP hold no read or write buffer:
// after one message each way, or a burst that grew the buffers to 64 KiB, a
// pair (both ends in this process) costs far less heap than its four 4 KiB
// buffers.
func TestIdleHoldsNoBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs int
		size int
	}{
		{"one message", 1, 5},
		{"burst", 64, 1 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) { testIdle(t, tc.msgs, tc.size) })
	}
}

func testIdle(t *testing.T, msgs, size int) {
	const pairs = 200
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	conns := make([]*conn.Conn, 0, 2*pairs)
	parked := make(chan struct{}, 2*pairs)
	opts := &conn.Options{CoalesceWrites: true}
	msg := bytes.Repeat([]byte("x"), size)
	for range pairs {
		srv, cli := connPair(t, transports[1], opts, opts)
		conns = append(conns, srv, cli)
		// Each side's messages reach the other in one burst.
		for _, pair := range [][2]*conn.Conn{{cli, srv}, {srv, cli}} {
			for range msgs {
				if err := pair[0].WriteMessage(bg, conn.Binary, msg); err != nil {
					t.Fatal(err)
				}
			}
			if err := pair[0].Flush(bg); err != nil {
				t.Fatal(err)
			}
			for range msgs {
				if _, _, err := pair[1].ReadMessage(bg, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range []*conn.Conn{srv, cli} {
			go func() {
				parked <- struct{}{}
				c.ReadMessage(bg, nil)
			}()
		}
	}
	for range 2 * pairs {
		<-parked
	}
	// The readers reach their wait shortly after signalling; a pair holding
	// its buffers would show 16 KiB more.
	var perPair uint64
	for range 20 {
		if perPair = (heap() - before) / pairs; perPair < 10<<10 {
			break
		}
		runtime.Gosched()
	}
	if perPair >= 10<<10 {
		t.Fatalf("idle pair holds %d B of heap, want < 10 KiB", perPair)
	}
	t.Logf("idle pair: %d B of heap", perPair)
	for _, c := range conns {
		c.NetConn().Close()
	}
}

// wrappedConn embeds a *net.TCPConn and serves its own bytes first, as a
// proxy-protocol reader would; a Conn must read through its Read.
type wrappedConn struct {
	*net.TCPConn
	prefix *bytes.Reader
}

func (w *wrappedConn) Read(p []byte) (int, error) {
	if w.prefix.Len() > 0 {
		return w.prefix.Read(p)
	}
	return w.TCPConn.Read(p)
}

func TestWrappedConnReadHonoured(t *testing.T) {
	a, b := tcpPair(t)
	// A masked client text frame "hi", all zero key.
	first := []byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}
	srv := conn.New(&wrappedConn{a.(*net.TCPConn), bytes.NewReader(first)}, conn.Server, nil, nil)
	cli := conn.New(b, conn.Client, nil, nil)
	if _, got, err := srv.ReadMessage(bg, nil); err != nil || string(got) != "hi" {
		t.Fatalf("first message: %q, %v", got, err)
	}
	if err := cli.WriteMessage(bg, conn.Text, []byte("then")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := srv.ReadMessage(bg, nil); err != nil || string(got) != "then" {
		t.Fatalf("second message: %q, %v", got, err)
	}
}

// Over a Unix socket the Conn also reads through the raw socket.
func TestUnixSocket(t *testing.T) {
	path := t.TempDir() + "/s"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skip("no unix sockets:", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	b, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	srv := conn.New(a, conn.Server, nil, nil)
	cli := conn.New(b, conn.Client, nil, nil)
	for _, size := range []int{0, 10, 5000, 70000} {
		want := bytes.Repeat([]byte{'u'}, size)
		if err := cli.WriteMessage(bg, conn.Binary, want); err != nil {
			t.Fatal(err)
		}
		if _, got, err := srv.ReadMessage(bg, nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d, %v", size, len(got), err)
		}
	}
	b.Close()
	if _, _, err := srv.ReadMessage(bg, nil); conn.CloseStatus(err) != conn.CloseAbnormal {
		t.Fatalf("after the peer left: %v", err)
	}
}

// TestConnSize keeps a Conn within the allocator's 640-byte class: the
// next class is 704, and every idle connection holds one.
func TestConnSize(t *testing.T) {
	if n := conn.SizeofConn; n > 640 {
		t.Errorf("a Conn is %d bytes, over 640: reorder or move fields (see the note on Conn)", n)
	}
}

// TestPushReleasesWriteBuffer: a write while the reader waits on an idle
// socket (a server pushing) gives the write buffer back at once. The reader
// would give it back only at its next wake, which a push-only connection
// never has: 4 KiB held per idle subscriber.
func TestPushReleasesWriteBuffer(t *testing.T) {
	a, cli := tcpPair(t)
	srv := conn.New(a, conn.Server, nil, nil)
	go srv.ReadMessage(bg, nil)
	for !conn.ReaderIdle(srv) {
		time.Sleep(time.Millisecond)
	}
	if err := srv.WriteMessage(bg, conn.Text, []byte("news")); err != nil {
		t.Fatal(err)
	}
	if conn.HoldsWriteBuffer(srv) {
		t.Error("the write buffer is held after a push to a connection whose reader is idle")
	}
	cli.Close()
}
