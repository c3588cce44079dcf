package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire/conn"
)

const (
	maxSize = 64 << 10
	// headerSize is the message header: sequence number and CRC-32 of the
	// rest, in hex so that text messages stay UTF-8.
	headerSize = 16 + 8
	// window is how many messages a client may have in flight.
	window = 4
	// smallSize: messages up to this go out through WriteMessage from a
	// scratch buffer, larger ones are streamed, so that a client holds no
	// 64 KiB buffer to send.
	smallSize = 4 << 10
	// dialers bounds concurrent dials, within the listen backlog.
	dialers = 128
)

// Shared message bodies: messages are slices of them, so no client holds
// its own.
var binaryBody, textBody = bodies()

func bodies() (bin, text []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	bin, text = make([]byte, 2*maxSize), make([]byte, 2*maxSize)
	for i := range bin {
		bin[i] = byte(r.Uint32())
		text[i] = byte(' ' + r.IntN(95))
	}
	return bin, text
}

type config struct {
	conns    int
	duration time.Duration
	drain    time.Duration // how long the echoes of the last messages may take; default 30 s
	coalesce bool          // the server holds its echoes with Options.CoalesceWrites
	// server is the address of an echo server in another process; empty
	// runs one in this process.
	server string
}

// report is the outcome of a run.
type report struct {
	cfg                  config
	dial                 time.Duration
	sent, received       int64
	lost, corrupted      int64
	streamed, fragmented int64 // sent through NextWriter; read through NextReader
	bytes                int64 // payload bytes echoed
	errs                 int64 // connections that failed
	firstErr             string
	baseRSS, peakRSS     int64 // bytes
	// Of a server in another process, if any.
	srvBaseRSS, srvPeakRSS int64
}

func (r *report) ok() bool {
	return r.lost == 0 && r.corrupted == 0 && r.errs == 0 && r.received > 0
}

func (r *report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connections  %d (all open after %v), exchanging for %v, server coalescing %v\n", r.cfg.conns, r.dial.Round(time.Millisecond), r.cfg.duration, r.cfg.coalesce)
	fmt.Fprintf(&b, "messages     sent %d, received %d, lost %d, corrupted %d\n", r.sent, r.received, r.lost, r.corrupted)
	fmt.Fprintf(&b, "             %d streamed through NextWriter, %d read through NextReader\n", r.streamed, r.fragmented)
	fmt.Fprintf(&b, "echoed       %.1f MiB (%.1f MiB/s, %.0f messages/s)\n", mib(r.bytes), mib(r.bytes)/r.cfg.duration.Seconds(), float64(r.received)/r.cfg.duration.Seconds())
	fmt.Fprintf(&b, "failed       %d connections\n", r.errs)
	if r.firstErr != "" {
		fmt.Fprintf(&b, "first error  %s\n", r.firstErr)
	}
	perConn := func(peak, base int64) float64 { return float64(peak-base) / 1024 / float64(r.cfg.conns) }
	if r.cfg.server == "" {
		fmt.Fprintf(&b, "peak RSS     %.1f MiB (VmHWM, both ends in this process; %.1f MiB at start)\n", mib(r.peakRSS), mib(r.baseRSS))
		fmt.Fprintf(&b, "per conn     %.1f KiB (client and server end)\n", perConn(r.peakRSS, r.baseRSS))
	} else {
		fmt.Fprintf(&b, "peak RSS     clients %.1f MiB, server %.1f MiB (VmHWM of each process; %.1f and %.1f MiB at start)\n",
			mib(r.peakRSS), mib(r.srvPeakRSS), mib(r.baseRSS), mib(r.srvBaseRSS))
		fmt.Fprintf(&b, "per conn     %.1f KiB: client end %.1f KiB, server end %.1f KiB\n",
			perConn(r.peakRSS+r.srvPeakRSS, r.baseRSS+r.srvBaseRSS), perConn(r.peakRSS, r.baseRSS), perConn(r.srvPeakRSS, r.srvBaseRSS))
	}
	verdict := "OK"
	if !r.ok() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "verdict      %s\n", verdict)
	return b.String()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// stats are a run's counters, shared by all connections.
type stats struct {
	sent, received, lost, corrupted, streamed, fragmented, bytes, errs atomic.Int64
	errOnce                                                            sync.Once
	firstErr                                                           string
}

func (s *stats) fail(err error) {
	s.errs.Add(1)
	s.errOnce.Do(func() { s.firstErr = err.Error() })
}

func run(cfg config) *report {
	if cfg.drain <= 0 {
		cfg.drain = 30 * time.Second
	}
	r := &report{cfg: cfg, baseRSS: procStatus("VmRSS")}
	st := &stats{}

	addr := cfg.server
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			st.fail(err)
			return r.fill(st)
		}
		defer echoServer(ln, cfg.coalesce, st)()
		addr = ln.Addr().String()
	}

	url := "ws://" + addr + "/"
	begin, stop := make(chan struct{}), make(chan struct{})
	start := time.Now()
	var opened, clients sync.WaitGroup
	sem := make(chan struct{}, dialers)
	opened.Add(cfg.conns)
	for i := range cfg.conns {
		clients.Go(func() { client(i, url, sem, &opened, begin, stop, cfg.drain, st) })
	}
	opened.Wait()
	r.dial = time.Since(start)
	close(begin)
	time.Sleep(cfg.duration)
	close(stop)
	clients.Wait()
	r.peakRSS = procStatus("VmHWM")
	return r.fill(st)
}

// echoServer serves on ln; the function it returns closes ln and waits for
// the connections to end.
func echoServer(ln net.Listener, coalesce bool, st *stats) (stop func()) {
	var servers sync.WaitGroup
	servers.Go(func() {
		for i := 0; ; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			servers.Go(func() { serve(nc, i%2 == 1, coalesce, st) })
		}
	})
	return func() { ln.Close(); servers.Wait() }
}

func (r *report) fill(st *stats) *report {
	r.sent, r.received = st.sent.Load(), st.received.Load()
	r.lost, r.corrupted = st.lost.Load(), st.corrupted.Load()
	r.streamed, r.fragmented = st.streamed.Load(), st.fragmented.Load()
	r.bytes, r.errs, r.firstErr = st.bytes.Load(), st.errs.Load(), st.firstErr
	return r
}

// serve echoes every message until the client closes, whole (ReadMessage
// and WriteMessage) or streamed (NextReader to NextWriter).
func serve(nc net.Conn, stream, coalesce bool, st *stats) {
	c, err := conn.AcceptConn(nc, &conn.AcceptOptions{Options: conn.Options{CoalesceWrites: coalesce}})
	if err != nil {
		nc.Close()
		st.fail(fmt.Errorf("server: %w", err))
		return
	}
	ctx := context.Background()
	var buf []byte
	for {
		if stream {
			var typ conn.MessageType
			var r io.Reader
			if typ, r, err = c.NextReader(ctx); err != nil {
				break
			}
			var w io.WriteCloser
			if w, err = c.NextWriter(ctx, typ); err != nil {
				break
			}
			if buf == nil {
				buf = make([]byte, 4<<10)
			}
			if _, err = io.CopyBuffer(w, r, buf); err != nil {
				break
			}
			if err = w.Close(); err != nil {
				break
			}
			continue
		}
		var typ conn.MessageType
		if typ, buf, err = c.ReadMessage(ctx, buf); err != nil {
			break
		}
		if err = c.WriteMessage(ctx, typ, buf); err != nil {
			break
		}
	}
	if conn.CloseStatus(err) != conn.CloseNormal {
		st.fail(fmt.Errorf("server: %w", err))
	}
	c.Close(conn.CloseNormal, "")
}

// record is what a client sent, to check the echo against.
type record struct {
	seq  uint64
	typ  conn.MessageType
	size int
	crc  uint32 // of the whole payload
}

// client opens a connection and, from begin until stop, sends random
// messages and checks their echoes in order.
func client(id int, url string, sem chan struct{}, opened *sync.WaitGroup, begin, stop <-chan struct{}, drain time.Duration, st *stats) {
	sem <- struct{}{}
	c, err := dial(url)
	<-sem
	opened.Done()
	if err != nil {
		st.fail(fmt.Errorf("client %d: %w", id, err))
		return
	}
	// Exchanging while others dial would slow the dials.
	<-begin
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	sent := make(chan record, window)
	go func() {
		<-stop
		// Bound the wait for the last echoes and the last writes.
		c.SetReadDeadline(time.Now().Add(drain))
		c.SetWriteDeadline(time.Now().Add(drain))
	}()
	var werr error
	go func() {
		defer close(sent)
		scratch := make([]byte, 0, smallSize)
		for seq := uint64(0); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			rec, streamed, err := send(c, rng, seq, scratch)
			if err != nil {
				werr = err
				return
			}
			sent <- rec
			st.sent.Add(1)
			if streamed {
				st.streamed.Add(1)
			}
		}
	}()

	stream := id%3 == 0
	var rerr error
	var buf []byte
	for rec := range sent {
		if rerr != nil {
			st.lost.Add(1)
			continue
		}
		var typ conn.MessageType
		var size int
		var crc uint32
		var head []byte
		if stream {
			typ, size, crc, head, rerr = readStreamed(c, buf[:0])
			st.fragmented.Add(1)
		} else {
			typ, buf, rerr = c.ReadMessage(context.Background(), buf)
			size, crc, head = len(buf), crc32.ChecksumIEEE(buf), buf[:min(len(buf), headerSize)]
		}
		if rerr != nil {
			st.lost.Add(1)
			continue
		}
		if err := check(rec, typ, size, crc, head); err != nil {
			st.corrupted.Add(1)
			st.fail(fmt.Errorf("client %d: %w", id, err))
			continue
		}
		st.received.Add(1)
		st.bytes.Add(int64(size))
	}
	if werr != nil {
		st.fail(fmt.Errorf("client %d: write: %w", id, werr))
	}
	if rerr != nil {
		st.fail(fmt.Errorf("client %d: read: %w", id, rerr))
	}
	if err := c.Close(conn.CloseNormal, ""); err != nil && werr == nil && rerr == nil {
		st.fail(fmt.Errorf("client %d: close: %w", id, err))
	}
}

// dial retries a refused connection: a full listen backlog refuses some
// while thousands open at once.
func dial(url string) (*conn.Conn, error) {
	var err error
	for try := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var c *conn.Conn
		c, err = conn.Dial(ctx, url, nil)
		cancel()
		if err == nil {
			return c, nil
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	return nil, err
}

// send sends message seq of a random type and size, streamed through
// NextWriter if large or at random.
func send(c *conn.Conn, rng *rand.Rand, seq uint64, scratch []byte) (record, bool, error) {
	// Sizes spread evenly over the powers of two up to 64 KiB: most
	// messages are small, as in life, and every size is tried.
	rec := record{seq: seq, typ: conn.Binary, size: rng.IntN(1<<rng.IntN(17) + 1)}
	src := binaryBody
	if rng.IntN(2) == 0 {
		rec.typ, src = conn.Text, textBody
	}
	off := rng.IntN(maxSize)
	var head []byte
	body := src[off : off+rec.size]
	if rec.size >= headerSize {
		body = body[:rec.size-headerSize]
		head = appendHeader(scratch[:0], seq, crc32.ChecksumIEEE(body))
	}
	rec.crc = crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, body)

	ctx := context.Background()
	if rec.size <= smallSize && rng.IntN(4) != 0 {
		msg := append(head, body...)
		return rec, false, c.WriteMessage(ctx, rec.typ, msg)
	}
	w, err := c.NextWriter(ctx, rec.typ)
	if err != nil {
		return rec, true, err
	}
	if _, err := w.Write(head); err != nil {
		w.Close()
		return rec, true, err
	}
	for len(body) > 0 {
		n := min(len(body), 1+rng.IntN(8<<10))
		if _, err := w.Write(body[:n]); err != nil {
			w.Close()
			return rec, true, err
		}
		body = body[n:]
	}
	return rec, true, w.Close()
}

func appendHeader(b []byte, seq uint64, crc uint32) []byte {
	return fmt.Appendf(b, "%016x%08x", seq, crc)
}

// readStreamed reads the next message through NextReader, a piece at a
// time, and returns its size, CRC-32 and header.
func readStreamed(c *conn.Conn, buf []byte) (conn.MessageType, int, uint32, []byte, error) {
	typ, r, err := c.NextReader(context.Background())
	if err != nil {
		return 0, 0, 0, nil, err
	}
	var piece [4 << 10]byte
	var head []byte
	size, crc := 0, uint32(0)
	for {
		n, err := r.Read(piece[:])
		crc = crc32.Update(crc, crc32.IEEETable, piece[:n])
		if k := min(n, headerSize-len(head)); k > 0 {
			head = append(head, piece[:k]...)
		}
		size += n
		if err == io.EOF {
			return typ, size, crc, head, nil
		}
		if err != nil {
			return typ, size, crc, head, err
		}
	}
}

// check compares an echo with what was sent.
func check(rec record, typ conn.MessageType, size int, crc uint32, head []byte) error {
	switch {
	case typ != rec.typ:
		return fmt.Errorf("message %d: type %v, sent %v", rec.seq, typ, rec.typ)
	case size != rec.size:
		return fmt.Errorf("message %d: %d bytes, sent %d", rec.seq, size, rec.size)
	case crc != rec.crc:
		return fmt.Errorf("message %d: CRC-32 %08x, sent %08x", rec.seq, crc, rec.crc)
	}
	if size >= headerSize {
		seq, err := strconv.ParseUint(string(head[:16]), 16, 64)
		if err != nil || seq != rec.seq {
			return fmt.Errorf("message %d: header says %q", rec.seq, head)
		}
	}
	return nil
}

// procStatus returns a size field of /proc/self/status in bytes, or 0.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := bytes.Cut(s.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(value)), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
