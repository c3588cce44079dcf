// Package bench holds the side-by-side benchmarks of pushwire against the Go
// WebSocket libraries gorilla/websocket, gobwas/ws, coder/websocket and
// lxzan/gws. It is a module of its own so that the peers never enter the
// library's go.mod. `go run ./cmd/report` runs them and writes RESULTS.md.
//
// Benchmarks are named Benchmark<Op>/<size>/<lib>. Messages are binary
// everywhere except in UTF8, so that only pushwire and coder do not pay for
// validating text the others skip.
package bench
