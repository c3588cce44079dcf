// Command soak runs our echo server on 127.0.0.1 and drives many concurrent
// connections of our client against it for a while: each sends random text
// and binary messages of 0 B to 64 KiB, some streamed in fragments through
// NextWriter, each carrying its sequence number and CRC-32, and checks every
// echo. It reports messages sent, received, lost and corrupted, and memory,
// and exits non-zero on any loss, corruption or connection error.
//
//	go run ./internal/soak -conns 10000 -duration 60s
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

func main() {
	conns := flag.Int("conns", 1000, "concurrent connections")
	duration := flag.Duration("duration", 30*time.Second, "how long the connections exchange messages, once all are open")
	flag.Parse()

	// Each connection takes two descriptors in this process, one per end.
	if err := raiseFileLimit(uint64(2**conns + 256)); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	r := run(config{conns: *conns, duration: *duration})
	fmt.Print(r)
	if !r.ok() {
		os.Exit(1)
	}
}

// raiseFileLimit raises RLIMIT_NOFILE to its hard limit, and the hard limit
// too if need is above it (which takes privilege).
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if lim.Max < need {
		lim.Cur, lim.Max = need, need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising the open file limit to %d: %w", lim.Cur, err)
	}
	return nil
}
