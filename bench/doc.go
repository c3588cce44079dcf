// Package bench holds the side-by-side benchmarks of pushwire against the Go
// WebSocket libraries gorilla/websocket, gobwas/ws, coder/websocket and
// lxzan/gws, and of its fan-out against theirs and olahol/melody's. It is a
// module of its own so that the peers never enter the library's go.mod.
// `go run ./cmd/report` runs them and writes RESULTS.md.
//
// Benchmarks are named Benchmark<Op>/<size>/<lib> (Fanout:
// BenchmarkFanout/<subscribers>/<lib>). Messages are binary
// everywhere but in UTF8, so that no library pays for the UTF-8 validation
// that some of the others skip.
package bench
