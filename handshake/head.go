package handshake

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"unsafe"
)

// DefaultMaxHeaderBytes bounds a request or response head (start line and
// header fields) when the options give no bound.
const DefaultMaxHeaderBytes = 8 << 10

// firstRead is the buffer a head is first read into: most requests, even
// browsers' with cookies, fit, so one allocation is the common case.
const firstRead = 2 << 10

var (
	errTooLarge = errors.New("head too large")
	errBareLF   = errors.New("line not ended by CRLF")
	errObsFold  = errors.New("obsolete line folding")
	errField    = errors.New("bad header field")
)

// readHead reads from r up to the empty line that ends an HTTP head, reading
// at most limit bytes in all. It returns the head without its final empty
// line (each line ends in CRLF), the number of lines in it, the bytes read
// past it, and the read buffer's unused capacity, for the answer. Each byte
// is looked at once, so the time is linear however the head is split across
// reads; a bare LF is refused as soon as it arrives.
//
// The head is the read buffer itself, not a copy (one allocation fewer a
// handshake): rest and spare share the buffer but not the head's bytes,
// and appending to rest reallocates (its capacity is its length).
//
// buf, if not nil, is the first read buffer (its capacity, within limit).
func readHead(r io.Reader, limit int, buf []byte) (head string, lines int, rest, spare []byte, err error) {
	if buf == nil {
		buf = make([]byte, 0, min(limit, firstRead))
	}
	buf = buf[:0:min(cap(buf), limit)]
	scanned, lineStart := 0, 0
	for {
		for scanned < len(buf) {
			i := bytes.IndexByte(buf[scanned:], '\n')
			if i < 0 {
				scanned = len(buf)
				break
			}
			lf := scanned + i
			if lf == 0 || buf[lf-1] != '\r' {
				return "", 0, nil, nil, errBareLF
			}
			if lf-1 == lineStart {
				if lf+1 < len(buf) {
					rest = buf[lf+1 : len(buf) : len(buf)]
				}
				return unsafe.String(unsafe.SliceData(buf), lineStart), lines, rest, buf[len(buf):], nil
			}
			lines++
			lineStart, scanned = lf+1, lf+1
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", 0, nil, nil, err
		}
		if len(buf) == limit {
			return "", 0, nil, nil, errTooLarge
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), limit))
			copy(grown, buf)
			buf = grown
		}
		var n int
		n, err = r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
	}
}

// cutLine splits the first CRLF-ended line of s from the rest.
func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\r\n")
	return line, rest
}

// parseVersion parses "HTTP/x.y".
func parseVersion(v string) (major, minor int, ok bool) {
	if len(v) != 8 || v[:5] != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseFields parses header field lines (each ended by CRLF) into a header
// with canonical keys. n bounds the number of fields, so that the values of
// all fields share one allocation: vals, if it is long enough, or a new one.
func parseFields(s string, n int, vals []string) (http.Header, error) {
	h := make(http.Header, n)
	if len(vals) < n {
		vals = make([]string, n)
	}
	for i := 0; s != ""; {
		var line string
		line, s = cutLine(s)
		if line[0] == ' ' || line[0] == '\t' {
			return nil, errObsFold
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return nil, errField
		}
		value = trimOWS(value)
		for j := 0; j < len(value); j++ {
			if c := value[j]; c < ' ' && c != '\t' || c == 0x7f {
				return nil, errField
			}
		}
		key := canonicalKey(name)
		if old, ok := h[key]; ok {
			h[key] = append(old, value)
			continue
		}
		vals[i] = value
		h[key] = vals[i : i+1 : i+1]
		i++
	}
	return h, nil
}

// canonicalKey is http.CanonicalHeaderKey for a token, without allocating
// for keys already canonical or for the handshake's own (which clients send
// as "Sec-WebSocket-Key", not canonical).
func canonicalKey(k string) string {
	upper := true
	canonical := true
	for i := 0; i < len(k) && canonical; i++ {
		c := k[i]
		canonical = !(upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z')
		upper = c == '-'
	}
	if canonical {
		return k
	}
	for _, known := range knownKeys {
		if len(known) == len(k) && strings.EqualFold(known, k) {
			return known
		}
	}
	return http.CanonicalHeaderKey(k)
}

var knownKeys = [...]string{
	"Host", "Upgrade", "Connection", "Origin",
	"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol",
	"Sec-Websocket-Extensions", "Sec-Websocket-Accept",
}

// reserved are the header keys the handshake writes itself; options must not
// hold them.
var reserved = [...]string{
	"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Accept",
	"Content-Length", "Transfer-Encoding",
}

// checkHeader reports whether the extra header h can be written as is:
// token names, values without control characters (no CRLF injection), and
// none of the handshake's own fields.
func checkHeader(h http.Header) *Error {
	for k, vs := range h {
		if !isToken(k) {
			return fail(0, ErrHeader, "bad name "+k)
		}
		ck := canonicalKey(k)
		for _, r := range reserved {
			if ck == r {
				return fail(0, ErrHeader, k)
			}
		}
		for _, v := range vs {
			for j := 0; j < len(v); j++ {
				if c := v[j]; c < ' ' && c != '\t' || c == 0x7f {
					return fail(0, ErrHeader, "bad value for "+k)
				}
			}
		}
	}
	return nil
}

// appendHeader appends the fields of h but skip, which the caller writes
// itself.
func appendHeader(b []byte, h http.Header, skip string) []byte {
	for k, vs := range h {
		if canonicalKey(k) == skip {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}
