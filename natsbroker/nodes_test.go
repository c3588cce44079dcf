//go:build unix

package natsbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsNode is a NATS server of a cluster that a test shuts down and starts
// again: the same name, ports and store each time.
type natsNode struct {
	t    testing.TB
	opts server.Options
	mu   sync.Mutex
	ns   *server.Server // nil while down
}

// restartableCluster starts n NATS servers with JetStream, clustered over
// loopback routes, on ports free a moment before; they keep their ports
// across restarts. They are shut down when the test ends.
func restartableCluster(t testing.TB, n int) []*natsNode {
	t.Helper()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	var nodes []*natsNode
	for i := range n {
		nn := &natsNode{t: t, opts: server.Options{
			ServerName: "n" + strconv.Itoa(i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "pushwire", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:     true,
			NoLog:      true,
		}}
		nodes = append(nodes, nn)
		t.Cleanup(nn.shutdown)
	}
	// All at once: JetStream waits for a quorum of peers to start.
	var wg sync.WaitGroup
	for _, nn := range nodes {
		wg.Go(nn.start)
	}
	wg.Wait()
	return nodes
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func (nn *natsNode) url() string { return "nats://127.0.0.1:" + strconv.Itoa(nn.opts.Port) }

func (nn *natsNode) start() {
	opts := nn.opts // NewServer keeps and changes its options
	ns, err := server.NewServer(&opts)
	if err != nil {
		nn.t.Error(err)
		return
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		nn.t.Errorf("NATS server %s did not start", nn.opts.ServerName)
	}
	nn.mu.Lock()
	nn.ns = ns
	nn.mu.Unlock()
}

func (nn *natsNode) shutdown() {
	nn.mu.Lock()
	ns := nn.ns
	nn.ns = nil
	nn.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// leadsStream reports whether the server runs and leads stream.
func (nn *natsNode) leadsStream(stream string) bool {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	return nn.ns != nil && nn.ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream)
}

// streamCurrent reports whether the server runs and its replica of stream
// has caught up with the stream's leader.
func (nn *natsNode) streamCurrent(stream string) bool {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	return nn.ns != nil && nn.ns.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, stream)
}

// buildPushnode builds cmd/pushnode into a temporary directory. Without
// the race detector, even when the test has it: three raced nodes beside
// the raced NATS servers of the test's own process would take the run
// past minutes on two cores, and the root package's tests run the server
// under -race.
func buildPushnode(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pushnode")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/pushnode")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/pushnode: %v\n%s", err, out)
	}
	return bin
}

// pushnode is a pushnode process, started again on the same address after
// a kill.
type pushnode struct {
	t    testing.TB
	name string
	bin  string
	args []string
	log  *os.File // its stdout and stderr, every life of it

	mu   sync.Mutex
	addr string // host:port, once it listened
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// startPushnode starts bin with args and -addr on a free port, and waits
// for it to listen. The caller stops it, and closes its log
// (stopPushnodes).
func startPushnode(t testing.TB, name, bin string, args ...string) *pushnode {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pushnode{t: t, name: name, bin: bin, args: args, log: f, addr: "127.0.0.1:0"}
	if err := p.start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return p
}

// stopPushnodes stops every node at once (each waits for its long-poll
// clients to take its close, up to the hold time), and logs the end of
// their logs if the test failed.
func stopPushnodes(t testing.TB, nodes []*pushnode) {
	var wg sync.WaitGroup
	for _, p := range nodes {
		wg.Go(p.stop)
	}
	wg.Wait()
	for _, p := range nodes {
		if t.Failed() {
			p.dumpLog()
		}
		p.log.Close()
	}
}

func (p *pushnode) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	listening := make(chan string, 1)
	cmd := exec.Command(p.bin, append([]string{"-addr", p.addr}, p.args...)...)
	cmd.Stdout = &lineWriter{w: p.log, line: func(l string) {
		if a, ok := strings.CutPrefix(l, "pushnode listening on "); ok {
			listening <- a
		}
	}}
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(p.log, "== %s started: pid %d\n", p.name, cmd.Process.Pid)
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case a := <-listening:
		p.addr, p.cmd, p.done = a, cmd, done
		return nil
	case <-done:
		return fmt.Errorf("%s exited before listening: %v", p.name, cmd.ProcessState)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not listen within 60 s", p.name)
	}
}

// lineWriter copies a process's output to w, and calls line with each
// line of it.
type lineWriter struct {
	w    io.Writer
	line func(string)
	buf  []byte
}

func (lw *lineWriter) Write(b []byte) (int, error) {
	lw.buf = append(lw.buf, b...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		lw.line(string(lw.buf[:i]))
		lw.buf = lw.buf[i+1:]
	}
	return lw.w.Write(b)
}

// url is the node's base URL.
func (p *pushnode) url() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addr
}

// kill kills the process with SIGKILL, as kill -9 does, and waits for it.
func (p *pushnode) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	fmt.Fprintf(p.log, "== %s killed: %v\n", p.name, cmd.ProcessState)
}

// stop ends the process with SIGTERM, then SIGKILL after 30 s.
func (p *pushnode) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s did not stop within 30 s of SIGTERM", p.name)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	if !cmd.ProcessState.Success() {
		p.t.Errorf("%s stopped by SIGTERM: %v", p.name, cmd.ProcessState)
	}
}

// dumpLog logs the tail of the node's log.
func (p *pushnode) dumpLog() {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return
	}
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	p.t.Logf("%s log (tail):\n%s", p.name, bytes.TrimSpace(b))
}

// healthy reports whether the node answers /healthz with 200.
func healthy(ctx context.Context, client *http.Client, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
