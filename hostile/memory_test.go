package hostile

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/procmem"
	"github.com/pushwire/pushwire/longpoll"
)

// The end under test of the memory tests runs in a child process (this test
// binary again), so that its resident memory is its own: the parent is the
// attacker.
// viaLongPoll is a child serving long polling (longpoll.Handler).
const viaLongPoll kind = "longpoll"

const (
	envChildRole = "PUSHWIRE_HOSTILE_CHILD" // "accept", "acceptconn", "dial" or "longpoll"
	envChildZip  = "PUSHWIRE_HOSTILE_ZIP"   // "1": negotiate permessage-deflate
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envChildRole); role != "" {
		if err := runChild(kind(role), os.Getenv(envChildZip) == "1"); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild serves (or, as "dial", opens) connections that read messages
// until they end, and answers the parent's commands on stdin: "dial URL"
// opens a client connection, "rss" prints the resident memory after a GC.
// A server prints its address first.
func runChild(k kind, zip bool) error {
	var cfg *deflate.Config
	if zip {
		cfg = &deflate.Config{}
	}
	read := func(c *conn.Conn) {
		var buf []byte
		for {
			_, msg, err := c.ReadMessage(bg, buf)
			if err != nil {
				return
			}
			buf = msg
		}
	}
	opts := &conn.AcceptOptions{Compression: cfg}
	switch k {
	case viaAccept:
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := conn.Accept(w, r, opts); err == nil {
				read(c)
			}
		}))
		defer ts.Close()
		fmt.Println("addr", ts.Listener.Addr())
	case viaLongPoll:
		h := longpoll.NewHandler(nil)
		ts := httptest.NewServer(h)
		defer ts.Close()
		defer h.Close()
		go func() {
			for {
				if _, err := h.Accept(bg); err != nil {
					return
				}
			}
		}()
		fmt.Println("addr", ts.Listener.Addr())
	case viaAcceptConn:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					c, err := conn.AcceptConn(nc, opts)
					if err != nil {
						nc.Close()
						return
					}
					read(c)
				}()
			}
		}()
		fmt.Println("addr", ln.Addr())
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "dial":
			go func() {
				if c, err := conn.Dial(bg, arg, &conn.DialOptions{Compression: cfg}); err == nil {
					read(c)
				}
			}()
		case "rss":
			runtime.GC()
			debug.FreeOSMemory()
			rss, err := procmem.Resident()
			if err != nil {
				return err
			}
			fmt.Println("rss", rss)
		case "peak":
			// The most resident memory since the last "peak" (Linux's
			// clear_refs 5 resets VmHWM to the current RSS).
			peak, err := procmem.Peak()
			if err != nil {
				return err
			}
			if err := procmem.ResetPeak(); err != nil {
				return err
			}
			fmt.Println("peak", peak)
		}
	}
	return nil
}

// child is the end under test in its own process.
type child struct {
	t   *testing.T
	in  *bufio.Writer
	out *bufio.Scanner
	cmd *exec.Cmd
}

func startChild(t *testing.T, k kind, zip bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildRole+"="+string(k), envChildZip+"="+map[bool]string{true: "1"}[zip])
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{t: t, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout), cmd: cmd}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return ch
}

func (ch *child) send(line string) {
	ch.in.WriteString(line + "\n")
	ch.in.Flush()
}

// expect reads the child's next line, which must start with word.
func (ch *child) expect(word string) string {
	ch.t.Helper()
	if !ch.out.Scan() {
		ch.t.Fatalf("the child ended before %q: %v", word, ch.out.Err())
	}
	v, ok := strings.CutPrefix(ch.out.Text(), word+" ")
	if !ok {
		ch.t.Fatalf("the child said %q, want %q", ch.out.Text(), word)
	}
	return v
}

// rss is the child's resident memory after a collection; peak the most it
// had since the last call to peak.
func (ch *child) rss() int64  { return ch.ask("rss") }
func (ch *child) peak() int64 { return ch.ask("peak") }

func (ch *child) ask(what string) int64 {
	ch.t.Helper()
	ch.send(what)
	n, err := strconv.ParseInt(ch.expect(what), 10, 64)
	if err != nil {
		ch.t.Fatal(err)
	}
	return n
}

// Connections that each declare a frame just under the read limit and send
// nothing more must cost memory for the bytes that arrived, not for the
// length declared: before, each pinned 16 MiB of resident memory.
func TestDeclaredLengthMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const conns = 60
	const perConn = 1 << 20
	for _, k := range every {
		for _, zip := range []bool{false, true} {
			for _, op := range []frame.Opcode{frame.OpBinary, frame.OpText} {
				name := fmt.Sprintf("%s/%s/zip=%v", k, op, zip)
				t.Run(name, func(t *testing.T) {
					ch := startChild(t, k, zip)
					var rsv byte
					if zip {
						rsv = frame.Rsv1
					}
					var addr string
					if k != viaDial {
						addr = ch.expect("addr")
					}
					before := ch.rss()
					var f *fakeServer
					if k == viaDial {
						f = listen(t)
						defer f.ln.Close()
					}
					for range conns {
						var p *peer
						if k == viaDial {
							ch.send("dial " + f.url())
							var r *http.Request
							p, r = f.accept()
							var ext []string
							if zip {
								ext = append(ext, "Sec-WebSocket-Extensions: permessage-deflate")
							}
							p.Write([]byte(switching(r.Header.Get("Sec-WebSocket-Key"), ext...)))
						} else {
							p = dialPeer(t, addr)
							var ext []string
							if zip {
								ext = append(ext, "Sec-WebSocket-Extensions: permessage-deflate")
							}
							p.Write([]byte(request(getLine, addr, nil, ext...)))
							p.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
							resp, err := http.ReadResponse(p.BR, nil)
							if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
								t.Fatalf("handshake: %v %v", resp, err)
							}
						}
						defer p.NC.Close()
						p.Write(p.Header(true, rsv, op, conn.DefaultReadLimit-1))
					}
					// The child reads the headers at once; give it time to.
					time.Sleep(500 * time.Millisecond)
					after := ch.rss()
					grew := (after - before) / conns
					t.Logf("RSS %d -> %d MiB: %d KiB per connection", before>>20, after>>20, grew>>10)
					if grew > perConn {
						t.Errorf("RSS grew by %d KiB per connection, want under %d", grew>>10, perConn>>10)
					}
				})
			}
		}
	}
}
