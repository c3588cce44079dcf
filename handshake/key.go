package handshake

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
)

const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// strictBase64 rejects keys whose padding bits are not zero. Made once:
// Strict copies the encoding.
var strictBase64 = base64.StdEncoding.Strict()

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key:
// base64(SHA-1(key + GUID)), RFC 6455 section 4.2.2.
func AcceptKey(key string) string {
	return string(appendAccept(nil, key))
}

func appendAccept(dst []byte, key string) []byte {
	// A valid key is 24 bytes, so key+GUID fits this array and the hash
	// costs no allocation.
	var in [24 + len(keyGUID)]byte
	sum := sha1.Sum(append(append(in[:0], key...), keyGUID...))
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// NewKey returns a fresh Sec-WebSocket-Key: 16 bytes from crypto/rand, in
// base64.
func NewKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return base64.StdEncoding.EncodeToString(b[:])
}

// validKey reports whether k is the base64 of exactly 16 bytes.
func validKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	var b [18]byte
	n, err := strictBase64.Decode(b[:], []byte(k))
	return err == nil && n == 16
}
