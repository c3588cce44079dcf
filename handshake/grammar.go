package handshake

import (
	"errors"
	"net/http"
	"strings"
)

// Extension is one element of a Sec-WebSocket-Extensions header (RFC 6455
// section 9.1).
type Extension struct {
	Name   string
	Params []Param
}

// Param is an extension parameter; Value is "" when the parameter has no
// value. Quoted-string values are kept unquoted.
type Param struct{ Name, Value string }

// maxEmptyElements is how many empty list elements a header may have:
// enough for senders that join lists carelessly, too few to cost anything.
const maxEmptyElements = 16

var (
	errEmptyElement = errors.New("too many empty list elements")
	errToken        = errors.New("expected a token")
	errQuoted       = errors.New("bad quoted-string")
	errValue        = errors.New("quoted value is not a token")
	errSeparator    = errors.New("expected ',' or ';'")
)

// tchar marks the bytes allowed in an HTTP token (RFC 9110 section 5.6.2).
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

func skipOWS(s string) string {
	return strings.TrimLeft(s, " \t")
}

// token splits the token at the start of s from the rest.
func token(s string) (tok, rest string) {
	i := 0
	for i < len(s) && tchar[s[i]] {
		i++
	}
	return s[:i], s[i:]
}

// quoted splits the quoted-string at the start of s (s[0] is '"') from the
// rest, and unescapes it. Without escapes the result shares s.
func quoted(s string) (val, rest string, err error) {
	escaped := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			if !escaped {
				return s[1:i], s[i+1:], nil
			}
			return unescape(s[1:i]), s[i+1:], nil
		case c == '\\':
			escaped = true
			i++
			if i == len(s) || !qdtext(s[i]) && s[i] != '"' && s[i] != '\\' {
				return "", "", errQuoted
			}
		case !qdtext(c):
			return "", "", errQuoted
		}
	}
	return "", "", errQuoted
}

// qdtext reports whether c may stand unescaped in a quoted-string.
func qdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == '!' || c >= 0x23 && c != '\\' && c != 0x7f
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseExtensions parses the values of all Sec-WebSocket-Extensions header
// lines: comma lists of `name *( ";" param [ "=" (token | quoted-string) ] )`
// with optional whitespace around the separators. It is strict: an empty list
// element, a bad token, an unterminated quoted-string or a quoted value that
// is not a token (RFC 6455 section 9.1) is an error.
func ParseExtensions(values []string) ([]Extension, error) {
	return parseExtensions(values, true)
}

// extBlock backs the first extension parseExtensions keeps and its
// parameters.
type extBlock struct {
	ext    [1]Extension
	params [4]Param
}

// parseExtensions is ParseExtensions; without keep it only checks the
// syntax, allocating nothing (unless to unescape a quoted value).
func parseExtensions(values []string, keep bool) ([]Extension, error) {
	var out []Extension
	var first *extBlock
	empty := 0
	for _, s := range values {
		for {
			var ext Extension
			if keep && first == nil {
				// The usual offer, one extension with a few parameters,
				// in one allocation.
				first = new(extBlock)
				out, ext.Params = first.ext[:0:1], first.params[:0:len(first.params)]
			}
			if ext.Name, s = token(skipOWS(s)); ext.Name == "" {
				// An empty element: RFC 9110 5.6.1.2 asks to ignore a
				// reasonable number of them.
				if s = skipOWS(s); s != "" && s[0] != ',' {
					return nil, errToken
				}
				if empty++; empty > maxEmptyElements {
					return nil, errEmptyElement
				}
				if s == "" {
					break
				}
				s = s[1:]
				continue
			}
			for s = skipOWS(s); s != "" && s[0] == ';'; s = skipOWS(s) {
				var p Param
				if p.Name, s = token(skipOWS(s[1:])); p.Name == "" {
					return nil, errToken
				}
				if s = skipOWS(s); s != "" && s[0] == '=' {
					if s = skipOWS(s[1:]); s != "" && s[0] == '"' {
						var err error
						if p.Value, s, err = quoted(s); err != nil {
							return nil, err
						}
						if !isToken(p.Value) {
							return nil, errValue
						}
					} else if p.Value, s = token(s); p.Value == "" {
						return nil, errToken
					}
				}
				if keep {
					ext.Params = append(ext.Params, p)
				}
			}
			if keep {
				if len(ext.Params) == 0 {
					ext.Params = nil // not first's empty array
				}
				out = append(out, ext)
			}
			if s == "" {
				break
			}
			if s[0] != ',' {
				return nil, errSeparator
			}
			s = s[1:]
		}
	}
	if len(out) == 0 {
		return nil, nil // first's array, unused
	}
	return out, nil
}

// AppendExtensions appends exts to dst in the canonical form of a header
// value: "permessage-deflate; client_max_window_bits=10, x-foo". A value
// that is not a token is written as a quoted-string (which ParseExtensions
// refuses: RFC 6455 wants tokens); checkExtensions tells the two apart.
func AppendExtensions(dst []byte, exts []Extension) []byte {
	for i, e := range exts {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, e.Name...)
		for _, p := range e.Params {
			dst = append(dst, "; "...)
			dst = append(dst, p.Name...)
			if p.Value == "" {
				continue
			}
			dst = append(dst, '=')
			if isToken(p.Value) {
				dst = append(dst, p.Value...)
				continue
			}
			dst = append(dst, '"')
			for j := 0; j < len(p.Value); j++ {
				if c := p.Value[j]; c == '"' || c == '\\' {
					dst = append(dst, '\\')
				}
				dst = append(dst, p.Value[j])
			}
			dst = append(dst, '"')
		}
	}
	return dst
}

// checkExtensions reports whether exts can be written as a header value that
// ParseExtensions reads back unchanged.
func checkExtensions(exts []Extension) error {
	for _, e := range exts {
		if !isToken(e.Name) {
			return errToken
		}
		for _, p := range e.Params {
			if !isToken(p.Name) || p.Value != "" && !isToken(p.Value) {
				return errToken
			}
		}
	}
	return nil
}

// ParseProtocols parses the values of all Sec-WebSocket-Protocol header
// lines: comma lists of tokens with optional whitespace. It is strict, like
// ParseExtensions, and runs in time linear in the input.
func ParseProtocols(values []string) ([]string, error) {
	var out []string
	empty := 0
	for _, s := range values {
		for {
			var p string
			if p, s = token(skipOWS(s)); p == "" {
				if s = skipOWS(s); s != "" && s[0] != ',' {
					return nil, errToken
				}
				if empty++; empty > maxEmptyElements {
					return nil, errEmptyElement
				}
				if s == "" {
					break
				}
				s = s[1:]
				continue
			}
			out = append(out, p)
			if s = skipOWS(s); s == "" {
				break
			}
			if s[0] != ',' {
				return nil, errSeparator
			}
			s = s[1:]
		}
	}
	return out, nil
}

// hasToken reports whether any of the comma lists in h[key] holds tok,
// compared case-insensitively.
func hasToken(h http.Header, key, tok string) bool {
	for _, v := range h[key] {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(trimOWS(item), tok) {
				return true
			}
		}
	}
	return false
}
