package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A peer is another WebSocket implementation, run by its scripts in
// testdata: echo_server and echo_client.
type peer struct {
	name string
	ext  string // of its scripts
	// minCompressBits is the smallest window it compresses with. zlib has
	// refused a raw deflate window of 8 bits since 1.2.9: Python's
	// zlib.compressobj(wbits=-8) raises, while Node's binding asks zlib for
	// 9 instead, which Node documents as compressing with an 8-bit window
	// in effect.
	// Any peer inflates with 8.
	minCompressBits int
	// noSubprotocol is the error of its client when the server picks none
	// of the subprotocols offered, which RFC 6455 (section 4.2.2) allows
	// and browsers accept; "" if it accepts.
	noSubprotocol string
	setup         func() (interp, version string, err error)

	once    sync.Once
	interp  string
	version string
	err     error
}

var (
	nodePeer   = &peer{name: "node", ext: ".js", minCompressBits: 8, noSubprotocol: "Server sent no subprotocol", setup: setupNode}
	pythonPeer = &peer{name: "python", ext: ".py", minCompressBits: 9, setup: setupPython}
	peers      = []*peer{nodePeer, pythonPeer}
)

// ready returns the peer's interpreter and version, setting the peer up
// the first time. A peer that cannot run skips the test, or fails it when
// CI is set: .ci/run installs both.
func (p *peer) ready(t *testing.T) (interp, version string) {
	t.Helper()
	p.once.Do(func() { p.interp, p.version, p.err = p.setup() })
	if p.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s peer: %v (.ci/run should have installed it)", p.name, p.err)
		}
		t.Skipf("%s peer: %v", p.name, p.err)
	}
	return p.interp, p.version
}

// setupNode finds node and installs ws from testdata/package.json into
// testdata/node_modules, unless it is there.
func setupNode() (string, string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("node is not installed")
	}
	pkg := filepath.Join("testdata", "node_modules", "ws", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return "", "", fmt.Errorf("ws is not installed and npm is not there to install it")
		}
		cmd := exec.Command(npm, "install", "--no-package-lock", "--no-audit", "--no-fund")
		cmd.Dir = "testdata"
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("npm install in testdata: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(pkg)
	if err != nil {
		return "", "", err
	}
	var v struct{ Version string }
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", fmt.Errorf("%s: %v", pkg, err)
	}
	return node, "ws " + v.Version, nil
}

// setupPython checks that Debian's python3 has websockets (python3-websockets).
// It names /usr/bin/python3: another python3 may come first on PATH.
func setupPython() (string, string, error) {
	const python = "/usr/bin/python3"
	out, err := exec.Command(python, "-c", "import websockets; print(websockets.__version__)").CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("%s cannot import websockets (apt-get install python3-websockets): %v\n%s", python, err, out)
	}
	return python, "websockets " + strings.TrimSpace(string(out)), nil
}

// An event is a line a peer's script prints.
type event struct {
	Event      string `json:"event"`
	ID         string `json:"id"`
	Port       int    `json:"port"`
	Version    string `json:"version"`
	Protocol   string `json:"protocol"`
	Extensions string `json:"extensions"`
	Code       int    `json:"code"`
	Reason     string `json:"reason"`
	Messages   int    `json:"messages"`
	Pings      int    `json:"pings"`
	Pongs      int    `json:"pongs"`
	Error      string `json:"error"`
}

// A peerServer is a peer's echo server, running until the test ends.
type peerServer struct {
	p      *peer
	url    string // ws://127.0.0.1:port/
	stderr lockedBuffer
	exited chan struct{} // closed once the process ended and its output is read
	err    error         // the process's exit, once exited

	mu   sync.Mutex
	byID map[string]chan event
}

// startServer starts p's echo server with args (see testdata/echo_server).
func startServer(t *testing.T, p *peer, args ...string) *peerServer {
	t.Helper()
	interp, _ := p.ready(t)
	cmd := exec.Command(interp, append([]string{filepath.Join("testdata", "echo_server"+p.ext)}, args...)...)
	s := &peerServer{p: p, exited: make(chan struct{}), byID: map[string]chan event{}}
	cmd.Stderr = &s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s server: %v", p.name, err)
	}
	ready := make(chan event, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = event{Event: "error", Error: "unreadable line: " + sc.Text()}
			}
			if e.Event == "ready" {
				ready <- e
				continue
			}
			s.events(e.ID) <- e
		}
		io.Copy(io.Discard, stdout)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
			t.Errorf("%s server ended early: %v\n%s", p.name, s.err, s.stderr.String())
		default:
			cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case e := <-ready:
		s.url = fmt.Sprintf("ws://127.0.0.1:%d/", e.Port)
	case <-s.exited:
		t.Fatalf("%s server did not start: %v\n%s", p.name, s.err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s server did not start within 30 s\n%s", p.name, s.stderr.String())
	}
	return s
}

func (s *peerServer) events(id string) chan event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.byID[id]
	if ch == nil {
		ch = make(chan event, 16)
		s.byID[id] = ch
	}
	return ch
}

// await returns the server's next event of the given kind for connection
// id, failing the test on an error event, the server's end, or a timeout.
func (s *peerServer) await(t *testing.T, id, kind string) event {
	t.Helper()
	ch := s.events(id)
	timeout := time.After(30 * time.Second)
	for {
		var e event
		select {
		case e = <-ch:
		case <-s.exited:
			select {
			case e = <-ch:
			default:
				t.Fatalf("%s server ended: %v\n%s", s.p.name, s.err, s.stderr.String())
			}
		case <-timeout:
			t.Fatalf("%s server: no %s event for %q within 30 s", s.p.name, kind, id)
		}
		switch e.Event {
		case "error":
			t.Fatalf("%s server, connection %q: %s", s.p.name, id, e.Error)
		case kind:
			return e
		}
	}
}

// A clientCase is one connection of a peer's echo client (see
// testdata/echo_client).
type clientCase struct {
	ID        string        `json:"id"`
	URL       string        `json:"url"`
	Deflate   *peerDeflate  `json:"deflate,omitempty"`
	Protocols []string      `json:"protocols,omitempty"`
	Messages  []peerMessage `json:"messages,omitempty"`
	Close     *peerClose    `json:"close,omitempty"`
	// ExpectError, if set, is part of the error the case must end with.
	ExpectError string `json:"expectError,omitempty"`
}

type peerDeflate struct {
	ServerMaxWindowBits     int  `json:"serverMaxWindowBits,omitempty"`
	ClientMaxWindowBits     int  `json:"clientMaxWindowBits,omitempty"`
	ServerNoContextTakeover bool `json:"serverNoContextTakeover,omitempty"`
	ClientNoContextTakeover bool `json:"clientNoContextTakeover,omitempty"`
}

type peerMessage struct {
	Type string `json:"type"` // "text" or "binary"
	Size int    `json:"size"`
	Kind string `json:"kind,omitempty"` // "random" (default) or "words"
	Frag int    `json:"frag,omitempty"` // fragment size; 0 sends whole
}

type peerClose struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// runClient runs p's echo client over cases and returns its "done" event
// for each, by id. Any failure of the client fails the test.
func runClient(t *testing.T, p *peer, cases []clientCase) map[string]event {
	t.Helper()
	interp, _ := p.ready(t)
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, c := range cases {
		enc.Encode(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, interp, filepath.Join("testdata", "echo_client"+p.ext))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	done := map[string]event{}
	var failures []string
	for line := range bytes.Lines(out) {
		var e event
		if json.Unmarshal(line, &e) != nil {
			failures = append(failures, "unreadable line: "+string(line))
			continue
		}
		switch e.Event {
		case "done":
			done[e.ID] = e
		case "error":
			failures = append(failures, fmt.Sprintf("case %q: %s", e.ID, e.Error))
		}
	}
	if err != nil || len(failures) > 0 {
		t.Fatalf("%s client: %v\n%s\n%s", p.name, err, strings.Join(failures, "\n"), stderr.Bytes())
	}
	for _, c := range cases {
		if _, ok := done[c.ID]; !ok {
			t.Fatalf("%s client: case %q did not finish\n%s", p.name, c.ID, stderr.Bytes())
		}
	}
	return done
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
