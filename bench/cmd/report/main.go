// Command report runs the side-by-side benchmarks of the bench module, keeps
// their raw output in results.txt, and writes RESULTS.md (the machine, the
// benchstat table, and the ratio of pushwire to the best peer on every row)
// and throughput.svg. Run it from bench/: `go run ./cmd/report`.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	count := flag.Int("count", envInt("BENCHCOUNT", 6), "rounds, one run of each benchmark per round (env BENCHCOUNT)")
	filter := flag.String("bench", envString("BENCHFILTER", "."), "benchmark regexp (env BENCHFILTER)")
	in := flag.String("in", "", "report on this raw output instead of running the benchmarks")
	flag.Parse()
	log.SetFlags(0)

	raw := *in
	if raw == "" {
		raw = "results.txt"
		if err := runBenchmarks(raw, *filter, *count); err != nil {
			log.Fatal(err)
		}
	}
	data, err := os.ReadFile(raw)
	if err != nil {
		log.Fatal(err)
	}
	table, err := exec.Command("go", "tool", "benchstat", raw).Output()
	if err != nil {
		log.Fatalf("benchstat: %v", err)
	}
	rs := parse(data)
	if len(rs.rows) == 0 {
		log.Fatalf("no benchmark results in %s", raw)
	}
	var md bytes.Buffer
	writeMarkdown(&md, rs, string(table))
	if err := os.WriteFile("RESULTS.md", md.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("throughput.svg", chart(rs, []string{"BenchmarkReadWrite", "BenchmarkEcho"}), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote RESULTS.md and throughput.svg from %s", raw)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envString(name, def string) string {
	if s := os.Getenv(name); s != "" {
		return s
	}
	return def
}

// runBenchmarks builds the test binary and runs the benchmarks count times
// over, one run of each per round, copying the output to the terminal and
// to out. Rounds rather than -count: the machine's speed drifts over
// minutes, and a library whose runs all fall in a slow spell would lose by
// the spell; in rounds, the libraries of a row run seconds apart every time.
func runBenchmarks(out, filter string, count int) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	// The library's revision goes first, a configuration line to benchstat,
	// since the tree may change while the benchmarks run.
	fmt.Fprintf(f, "pushwire-revision: %s\n", revision())
	bin, err := os.CreateTemp("", "bench-*.test")
	if err != nil {
		return err
	}
	bin.Close()
	defer os.Remove(bin.Name())
	build := exec.Command("go", "test", "-c", "-o", bin.Name(), ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go test -c: %w", err)
	}
	for round := 1; round <= count; round++ {
		log.Printf("round %d of %d", round, count)
		// No test timeout: a round of the full set takes minutes.
		cmd := exec.Command(bin.Name(), "-test.run", "^$", "-test.bench", filter, "-test.benchmem",
			"-test.count", "1", "-test.timeout", "0")
		cmd.Stdout = io.MultiWriter(os.Stdout, f)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
	}
	return nil
}

// results are the medians of the raw output, by row (the benchmark name
// without its library), library and unit.
type results struct {
	cpu      string   // as go test names it
	revision string   // of the library, as runBenchmarks recorded it
	runs     int      // most samples of one benchmark
	rows     []string // in order of first appearance
	libs     map[string][]string
	median   map[key]float64
}

type key struct{ row, lib, unit string }

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(data []byte) results {
	rs := results{libs: map[string][]string{}, median: map[key]float64{}}
	samples := map[key][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if cpu, ok := strings.CutPrefix(sc.Text(), "cpu: "); ok {
			rs.cpu = strings.TrimSpace(cpu)
		}
		if rev, ok := strings.CutPrefix(sc.Text(), "pushwire-revision: "); ok {
			rs.revision = rev
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			continue
		}
		row, lib := name[:i], name[i+1:]
		if _, ok := rs.libs[row]; !ok {
			rs.rows = append(rs.rows, row)
		}
		if !slices.Contains(rs.libs[row], lib) {
			rs.libs[row] = append(rs.libs[row], lib)
		}
		for j := 2; j+1 < len(f); j += 2 {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				continue
			}
			k := key{row, lib, f[j+1]}
			samples[k] = append(samples[k], v)
		}
	}
	for k, vs := range samples {
		rs.runs = max(rs.runs, len(vs))
		sort.Float64s(vs)
		m := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
		rs.median[k] = m
	}
	return rs
}

// A metric is compared in the direction that is better for users.
type metric struct {
	unit           string
	higherIsBetter bool
}

// metrics are the figures compared on a row: ns/op everywhere but for
// idle memory, whose ns/op is only how long a measurement took.
func metrics(row string) []metric {
	if strings.HasPrefix(row, "BenchmarkIdleConnMemory") {
		return []metric{{"B/conn", false}, {"heap-B/conn", false}, {"stack-B/conn", false}, {"rss-B/conn", false}}
	}
	if strings.HasPrefix(row, "BenchmarkIdleSessionMemory") {
		return []metric{{"B/session", false}, {"heap-B/session", false}, {"stack-B/session", false}}
	}
	if strings.HasPrefix(row, "BenchmarkHandshake") {
		return []metric{{"handshakes/s", true}, {"allocs/op", false}}
	}
	if strings.HasPrefix(row, "BenchmarkWriteBounded") {
		return []metric{{"ns/op", false}, {"allocs/op", false}}
	}
	if strings.HasPrefix(row, "BenchmarkFanout") {
		return []metric{{"deliveries/s", true}, {"p50-µs", false}, {"p99-µs", false},
			{"cpu-ns/delivery", false}, {"heap-B/sub", false}}
	}
	return []metric{{"ns/op", false}, {"msgs/s", true}}
}

// baselines are not peers: copy bounds what masking can reach, floor what
// a handshake can.
var baselines = []string{"pushwire", "copy", "floor"}

func writeMarkdown(w io.Writer, rs results, table string) {
	fmt.Fprintf(w, "# Benchmarks: pushwire and the Go WebSocket libraries\n\n")
	fmt.Fprintf(w, "Generated by `make bench` (`cd bench && go run ./cmd/report`); raw output in `results.txt`.\n\n")
	fmt.Fprintf(w, "- CPU: %s (go test says: %s)\n- Cores: %d\n- Go: %s %s/%s\n- pushwire: %s\n- Date: %s\n- Rounds: %d, each running every benchmark once (medians below)\n\n",
		cpuModel(), rs.cpu, runtime.NumCPU(), goVersion(), runtime.GOOS, runtime.GOARCH, rs.revision,
		time.Now().UTC().Format("2006-01-02 15:04 MST"), rs.runs)

	fmt.Fprintf(w, "## pushwire against the best peer\n\n")
	fmt.Fprintf(w, "The ratio is pushwire's median over the best peer's on that row: below 1 is better for ns/op, latency, CPU time and memory, above 1 for msgs/s and deliveries/s.\n\n")
	fmt.Fprintf(w, "| benchmark | metric | pushwire | best peer | peer's | pushwire / peer | outcome |\n")
	fmt.Fprintf(w, "|---|---|--:|---|--:|--:|---|\n")
	for _, row := range rs.rows {
		for _, m := range metrics(row) {
			for _, variant := range rs.libs[row] {
				if isPushwire(variant) {
					writeRatio(w, rs, row, variant, m)
				}
			}
		}
	}

	writeMaskVsCopy(w, rs)
	writeDeflateVsPlain(w, rs)

	fmt.Fprintf(w, "\n![throughput against message size](throughput.svg)\n\n")
	fmt.Fprintf(w, "## Notes\n\n%s\n", notes)
	fmt.Fprintf(w, "## benchstat\n\n```\n%s```\n", table)
}

// isPushwire tells pushwire and its variants (pushwire-http: behind net/http,
// reading in the handler; pushwire-handler: through conn.Handler) from peers.
func isPushwire(lib string) bool { return strings.HasPrefix(lib, "pushwire") }

// writeRatio writes the line of one pushwire variant on a row: its median
// against the best peer's.
func writeRatio(w io.Writer, rs results, row, variant string, m metric) {
	pw, ok := rs.median[key{row, variant, m.unit}]
	if !ok {
		return
	}
	peer, best := "", math.NaN()
	for _, lib := range rs.libs[row] {
		v, ok := rs.median[key{row, lib, m.unit}]
		if !ok || slices.Contains(baselines, lib) || isPushwire(lib) {
			continue
		}
		if math.IsNaN(best) || (m.higherIsBetter && v > best) || (!m.higherIsBetter && v < best) {
			peer, best = lib, v
		}
	}
	if peer == "" {
		return
	}
	name := strings.TrimPrefix(row, "Benchmark")
	if variant != "pushwire" {
		name += " (" + variant + ")"
	}
	// A peer's 0 (allocations) has no ratio.
	ratio, out := "—", "even"
	switch {
	case best != 0:
		ratio, out = fmt.Sprintf("%.2f", pw/best), outcome(pw/best, m.higherIsBetter)
	case pw != 0 && m.higherIsBetter:
		out = "ahead (the peer's is 0)"
	case pw != 0:
		out = "**behind (the peer's is 0)**"
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
		name, m.unit, num(pw), peer, num(best), ratio, out)
}

// writeMaskVsCopy sets masking beside copy of the same size, the bound that
// store bandwidth puts on it.
func writeMaskVsCopy(w io.Writer, rs results) {
	fmt.Fprintf(w, "\n## Masking against copy\n\n")
	fmt.Fprintf(w, "copy moves the bytes from one buffer to another (twice the memory of masking in place); the ratio is pushwire's time over copy's.\n\n")
	fmt.Fprintf(w, "| size | pushwire ns/op | copy ns/op | pushwire / copy | pushwire GB/s |\n|---|--:|--:|--:|--:|\n")
	for _, row := range rs.rows {
		size, ok := strings.CutPrefix(row, "BenchmarkMask/")
		if !ok {
			continue
		}
		pw, ok1 := rs.median[key{row, "pushwire", "ns/op"}]
		cp, ok2 := rs.median[key{row, "copy", "ns/op"}]
		if !ok1 || !ok2 {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.1f |\n", size, num(pw), num(cp), pw/cp, bytesOf(size)/pw)
	}
}

// writeDeflateVsPlain sets pushwire's compressed fan-out beside its plain
// one: the CPU time a delivery costs with permessage-deflate, where each
// message is compressed once for every subscriber.
func writeDeflateVsPlain(w io.Writer, rs results) {
	fmt.Fprintf(w, "\n## Fan-out: compressed against plain\n\n")
	fmt.Fprintf(w, "pushwire-deflate's subscribers negotiate permessage-deflate without context takeover; the goal is at most 1.3× the plain CPU time per delivery.\n\n")
	fmt.Fprintf(w, "| subscribers | plain cpu-ns/delivery | deflate cpu-ns/delivery | deflate / plain |\n|---|--:|--:|--:|\n")
	for _, row := range rs.rows {
		subs, ok := strings.CutPrefix(row, "BenchmarkFanout/")
		if !ok {
			continue
		}
		pl, ok1 := rs.median[key{row, "pushwire", "cpu-ns/delivery"}]
		df, ok2 := rs.median[key{row, "pushwire-deflate", "cpu-ns/delivery"}]
		if !ok1 || !ok2 {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f |\n", subs, num(pl), num(df), df/pl)
	}
}

// outcome says by how much pushwire is ahead or behind: a percentage under
// a factor of 2, the factor above.
func outcome(ratio float64, higherIsBetter bool) string {
	ahead := ratio < 1 != higherIsBetter
	f := math.Max(ratio, 1/ratio)
	gap := fmt.Sprintf("%.0f%%", 100*(f-1))
	if f >= 2 {
		gap = fmt.Sprintf("%.1f×", f)
	}
	switch {
	case f < 1.03:
		return "even"
	case ahead:
		return "ahead by " + gap
	}
	return "**behind by " + gap + "**"
}

// num prints a figure with three significant digits, without exponents.
func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// revision is the library's commit, marked dirty when the benchmarks build
// uncommitted changes.
func revision() string {
	out, err := exec.Command("git", "-C", "..", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// goVersion is the toolchain that ran the benchmarks, which go run also
// used to build this program.
func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

const notes = `- Messages are binary, so that libraries that skip UTF-8 validation (gorilla, gobwas, gws by default) are not favoured; UTF8 measures the validator alone.
- ReadWrite and Compression run a server over an in-memory net.Conn that serves pre-encoded masked client frames and discards writes: the cost is the library's alone. gobwas uses its low-level API (ReadHeaderBuffer, Cipher, WriteHeaderBuffer, bufio); pushwire's plain case uses conn.New, with no handshake, as gobwas has none.
- Servers that read and answer send the answers to a burst together where the library allows it: pushwire with Options.CoalesceWrites, gobwas by flushing its bufio.Writer only when its bufio.Reader is empty. gorilla, coder and gws send each message as it is written. This is what decides Pipeline.
- Every library runs with its default buffers: 4 KiB for reading and 4 KiB for writing (gorilla, gws, coder's bufio; gobwas's bufio as the benchmark sets it). pushwire's default 4 KiB buffers grow to 64 KiB while frames of up to 2 KiB fill them (read) or overflow them (answers held by CoalesceWrites), and go back to a pool when the connection is idle: a burst of 1 KiB messages then costs it up to a sixteenth of the system calls. This is what decides Pipeline at 1 KiB. A peer given 64 KiB buffers would keep them on every connection, idle or not.
- Echo and Pipeline run over loopback TCP in one process: B/op and allocs/op count client and server together. Pipeline uses the same client for every server: a pushwire Conn that reads the replies, and writes pre-masked frames straight to the socket, as many in one write as it has credit for. At 16 B the two fastest servers come out even: the run leaves about 40% of the two cores idle (wake-ups between the client's goroutines, the kernel and the server set the pace), and each of the two servers takes the same share of the CPU time used, most of it in system calls.
- IdleConnMemory is the memory each idle server connection holds, with the clients in a child process: heap and stack in use after two collections (B/conn is their sum), and the server process's resident memory (rss-B/conn, which also counts memory the runtime has not yet returned: a rough figure). Rows are <compression>/<traffic>/<connections>: traffic none (just the handshake), ping (one ping answered), data (one message echoed; compressed rows: one compressed message each way). Compressed connections are measured after 2 s without traffic: pushwire gives a compressor unused for 1 s back to its pool, and keeps up to 32 KiB of window for takeover. Servers: pushwire AcceptConn, pushwire-http (conn.Accept in a net/http handler that reads in place), pushwire-handler (conn.Handler), gobwas ws.Upgrade and gws UpgradeFromConn on raw connections, gorilla and coder on net/http. The benchmark binary runs with GODEBUG=adaptivestackstart=0, so that one library's goroutines do not set the starting stack of the next one's. Its ns/op is only how long one measurement took.
- Compression: gorilla supports no context takeover only; gobwas (wsflate) is not measured. gws in takeover mode keeps 4 KiB windows (12 bits) by default, the others 32 KiB.
- Fanout/<subscribers> publishes 1 KiB binary messages (JSON-like text after a 16-byte header: publish time and sequence number) to 1,000 and 10,000 subscribers over loopback, one op being one message to all of them. The subscribers are pushwire conn clients in a child process; they check every message's sequence and time its arrival. Messages go out in bursts of 100,000 deliveries (100 messages to 1,000 subscribers, 10 to 10,000), and the next burst waits for the last receipt: deliveries/s is deliveries over the time from each burst's first publish to its last receipt, p50-µs and p99-µs are publish-to-receive latencies within bursts, cpu-ns/delivery is the server process's CPU time (getrusage) over the deliveries (sub-cpu-ns/delivery the subscribers' process's: the two share the cores, which bounds what a leaner server gains), heap-B/sub (and stack-B/sub, not compared) what the server holds per subscriber after one message. Servers: pushwire.Server (bare WebSocket clients, subscribed by OnOpen; Publish), gorilla (a registry, a writer goroutine per connection fed by a channel, one PreparedMessage per message), gws (a registry and its Broadcaster), melody (Broadcast), coder (a registry, a writer per connection fed by a channel). The registries hold 256 messages per connection (melody's default) and drop a connection that overflows; writes are bounded by 10 s, as pushwire's and melody's are (gws has no write timeout). The subscribers share the machine's cores with the server: pushwire-deflate's deliveries/s and latency are bounded by its subscribers inflating every message, so its row is for comparing cpu-ns/delivery.
- Mask: gorilla, coder and gws export no masking function; copy is the memory bandwidth baseline, not a peer.
- Handshake is one raw client's short connections, one at a time over loopback: connect, upgrade, one 16 B message echoed, close. floor is a server that checks nothing and answers with canned bytes: what TCP and the scheduler cost, a bound for every library. allocs/op counts client and server.
- WriteBounded writes 1 KiB binary messages over loopback TCP to a client that discards them, each write bounded by a second as the library's API offers: SetWriteDeadline before it (gorilla, gobwas, gws, pushwire-deadline), or a fresh context.WithTimeout passed to it (pushwire, coder), whose own cost (4 allocations, about half a microsecond) those rows include.
`
