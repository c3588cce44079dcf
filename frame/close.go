package frame

import (
	"encoding/binary"
	"unicode/utf8"
)

// CloseCode is a close status code (RFC 6455 section 7.4).
type CloseCode uint16

// The close codes of RFC 6455 section 7.4.1 and IANA's registry. Those
// marked never on the wire only report how a connection ended.
const (
	CloseNormal             CloseCode = 1000
	CloseGoingAway          CloseCode = 1001
	CloseProtocolError      CloseCode = 1002
	CloseUnsupportedData    CloseCode = 1003
	CloseNoStatus           CloseCode = 1005 // never on the wire: the close frame had no payload
	CloseAbnormal           CloseCode = 1006 // never on the wire: the connection dropped without a close frame
	CloseInvalidPayload     CloseCode = 1007
	ClosePolicyViolation    CloseCode = 1008
	CloseTooBig             CloseCode = 1009
	CloseMandatoryExtension CloseCode = 1010
	CloseInternalError      CloseCode = 1011
	CloseServiceRestart     CloseCode = 1012
	CloseTryAgainLater      CloseCode = 1013
	CloseBadGateway         CloseCode = 1014
	CloseTLSHandshake       CloseCode = 1015 // never on the wire
)

// MaxCloseReason is the longest close reason that fits a control frame.
const MaxCloseReason = 123

// Valid reports whether c may appear in a close frame: the codes defined by
// RFC 6455 and registered with IANA that are not reserved for local use, and
// the 3000-4999 range for libraries and applications.
func (c CloseCode) Valid() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// ParseClose parses a close frame's payload. An empty payload yields
// CloseNoStatus. The reason aliases p.
func ParseClose(p []byte) (CloseCode, []byte, error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, nil, nil
	case len(p) == 1:
		return 0, nil, ErrCloseLength
	}
	code := CloseCode(binary.BigEndian.Uint16(p))
	if !code.Valid() {
		return code, nil, ErrCloseCode
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return code, nil, ErrCloseReason
	}
	return code, reason, nil
}

// AppendClose appends the close payload for code and reason to dst. For
// CloseNoStatus it appends nothing. The reason is cut to MaxCloseReason
// bytes, at a rune boundary.
func AppendClose(dst []byte, code CloseCode, reason string) []byte {
	if code == CloseNoStatus {
		return dst
	}
	if len(reason) > MaxCloseReason {
		n := MaxCloseReason
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}
