// Package hostile holds no code: its tests attack pushwire's server and
// client over real loopback TCP with what a hostile or broken peer sends
// (bad handshakes, broken framing, decompression bombs, floods, silence) and
// assert the exact outcome on the wire, the error our side returns, that no
// goroutine is left behind and that memory stays bounded.
package hostile
