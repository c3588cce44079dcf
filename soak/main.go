// Command soak runs our echo server on 127.0.0.1 and drives many concurrent
// connections of our client against it for a while: each sends random text
// and binary messages of 0 B to 64 KiB, some streamed in fragments through
// NextWriter, each carrying its sequence number and CRC-32, and checks every
// echo. It reports messages sent, received, lost and corrupted, and memory,
// and exits non-zero on any loss, corruption or connection error.
//
//	go run ./soak -conns 10000 -duration 60s
//
// Each connection takes a descriptor at each end. When the open file limit
// cannot hold both ends in one process, the server runs in a child process.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"
)

func main() {
	conns := flag.Int("conns", 1000, "concurrent connections")
	duration := flag.Duration("duration", 30*time.Second, "how long the connections exchange messages, once all are open")
	serveOnly := flag.Bool("serve", false, "only run the echo server, for a parent soak process: print its address, serve until stdin closes, then print the outcome")
	coalesce := flag.Bool("coalesce", false, "the server holds its echoes with Options.CoalesceWrites")
	flag.Parse()

	limit, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if *serveOnly {
		serveChild(*coalesce)
		return
	}
	cfg := config{conns: *conns, duration: *duration, coalesce: *coalesce}
	var child *serverProcess
	if need := uint64(2**conns + 64); need > limit {
		if uint64(*conns+64) > limit {
			fmt.Fprintf(os.Stderr, "soak: %d connections need %d open files, the limit is %d\n", *conns, *conns+64, limit)
			os.Exit(2)
		}
		if child, err = startServerProcess(*coalesce); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(2)
		}
		cfg.server = child.addr
	}
	r := run(cfg)
	if child != nil {
		child.finish(r)
	}
	fmt.Print(r)
	if !r.ok() {
		os.Exit(1)
	}
}

// serveChild is the server process: it prints its address, serves until
// its stdin closes, and prints its errors and memory.
func serveChild(coalesce bool) {
	base := procStatus("VmRSS")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak server:", err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr())
	st := &stats{}
	stop := echoServer(ln, coalesce, st)
	io.Copy(io.Discard, os.Stdin)
	stop()
	fmt.Printf("%d %d %d %q\n", st.errs.Load(), base, procStatus("VmHWM"), st.firstErr)
}

// serverProcess is a child running serveChild.
type serverProcess struct {
	cmd   *exec.Cmd
	addr  string
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startServerProcess(coalesce bool) (*serverProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &serverProcess{cmd: exec.Command(self, "-serve", fmt.Sprintf("-coalesce=%v", coalesce))}
	p.cmd.Stderr = os.Stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.out = bufio.NewReader(stdout)
	if _, err := fmt.Fscanln(p.out, &p.addr); err != nil {
		return nil, fmt.Errorf("server process: %w", err)
	}
	return p, nil
}

// finish stops the server process and adds its outcome to r.
func (p *serverProcess) finish(r *report) {
	p.stdin.Close()
	var errs int64
	var first string
	if _, err := fmt.Fscanf(p.out, "%d %d %d %q\n", &errs, &r.srvBaseRSS, &r.srvPeakRSS, &first); err != nil {
		errs, first = 1, fmt.Sprintf("server process: %v", err)
	}
	if err := p.cmd.Wait(); err != nil && errs == 0 {
		errs, first = 1, fmt.Sprintf("server process: %v", err)
	}
	r.errs += errs
	if r.firstErr == "" {
		r.firstErr = first
	}
}
