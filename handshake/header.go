package handshake

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// Extension is one element of a Sec-WebSocket-Extensions header.
type Extension struct {
	Name   string
	Params []Param
}

// Param is an extension parameter; Value is "" when it has none.
// Quoted-string values are kept unquoted.
type Param struct{ Name, Value string }

const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(keyGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// NewKey returns a fresh Sec-WebSocket-Key: 16 random bytes in base64.
func NewKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// validKey reports whether k is base64 of exactly 16 bytes.
func validKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(k))
	return err == nil && n == 16
}

var errGrammar = errors.New("bad grammar")

// isTchar reports whether c may appear in an HTTP token (RFC 9110 5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func skipOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// token splits the token at the start of s from the rest.
func token(s string) (string, string) {
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// quoted splits the quoted-string at the start of s (which starts with '"')
// from the rest, unescaping it.
func quoted(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\':
			i++
			if i == len(s) {
				return "", "", errGrammar
			}
			b.WriteByte(s[i])
		case c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f):
			b.WriteByte(c)
		default:
			return "", "", errGrammar
		}
	}
	return "", "", errGrammar
}

// ParseExtensions parses the values of Sec-WebSocket-Extensions headers
// (RFC 6455 section 9.1). Empty list elements are ignored, as RFC 9110
// section 5.6.1 asks; any other departure from the grammar is an error.
func ParseExtensions(values []string) ([]Extension, error) {
	var out []Extension
	for _, s := range values {
		for {
			s = skipOWS(s)
			if s == "" {
				break
			}
			if s[0] == ',' {
				s = s[1:]
				continue
			}
			var ext Extension
			ext.Name, s = token(s)
			if ext.Name == "" {
				return nil, errGrammar
			}
			for s = skipOWS(s); s != "" && s[0] == ';'; s = skipOWS(s) {
				var p Param
				p.Name, s = token(skipOWS(s[1:]))
				if p.Name == "" {
					return nil, errGrammar
				}
				if s = skipOWS(s); s != "" && s[0] == '=' {
					s = skipOWS(s[1:])
					if s != "" && s[0] == '"' {
						var err error
						if p.Value, s, err = quoted(s); err != nil {
							return nil, err
						}
						// RFC 6455 9.1: an unquoted value must be a token.
						if !isToken(p.Value) {
							return nil, errGrammar
						}
					} else if p.Value, s = token(s); p.Value == "" {
						return nil, errGrammar
					}
				}
				ext.Params = append(ext.Params, p)
			}
			out = append(out, ext)
			if s != "" && s[0] != ',' {
				return nil, errGrammar
			}
		}
	}
	return out, nil
}

// AppendExtensions appends the header value for exts to dst.
func AppendExtensions(dst []byte, exts []Extension) []byte {
	for i, e := range exts {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, e.Name...)
		for _, p := range e.Params {
			dst = append(dst, "; "...)
			dst = append(dst, p.Name...)
			if p.Value != "" {
				dst = append(dst, '=')
				dst = append(dst, p.Value...)
			}
		}
	}
	return dst
}

// ParseProtocols parses the values of Sec-WebSocket-Protocol headers: comma
// separated tokens.
func ParseProtocols(values []string) ([]string, error) {
	var out []string
	for _, s := range values {
		for {
			s = skipOWS(s)
			if s == "" {
				break
			}
			if s[0] == ',' {
				s = s[1:]
				continue
			}
			var p string
			if p, s = token(s); p == "" {
				return nil, errGrammar
			}
			out = append(out, p)
			if s = skipOWS(s); s != "" && s[0] != ',' {
				return nil, errGrammar
			}
		}
	}
	return out, nil
}

// hasToken reports whether any of the comma lists in h[name] holds tok,
// compared case-insensitively.
func hasToken(h http.Header, name, tok string) bool {
	for _, v := range h[name] {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(item, " \t"), tok) {
				return true
			}
		}
	}
	return false
}
