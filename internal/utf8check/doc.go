// Package utf8check validates UTF-8 text that arrives in pieces, failing at
// the first byte that makes it invalid: a WebSocket endpoint must fail a
// text message as soon as it cannot be valid, even in the middle of a frame.
//
//	var v utf8check.Validator
//	for _, piece := range pieces {
//		if !v.Write(piece) {
//			return errInvalid // the first bad byte is in piece
//		}
//	}
//	if !v.Complete() {
//		return errInvalid // the text ends inside a character
//	}
//
// The rules are those of unicode/utf8.Valid (RFC 3629): no overlong forms,
// no surrogates, nothing past U+10FFFF. On amd64 long texts go through an
// AVX2 kernel; build with -tags purego for the portable DFA only.
package utf8check
