package handshake

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// OriginPolicy is the default origin policy. It allows a request without
// an Origin header: browsers always send one, so such a request does not
// come from a page that could ride on the user's cookies. It allows a
// request whose origin's host is the host the client asked for, or matches
// one of Patterns.
//
// The host asked for is the request's Host, unless the request comes from
// one of TrustedProxies: then it is the host the proxy forwarded, from the
// last host= of Forwarded (RFC 7239) or else the last X-Forwarded-Host. A
// reverse proxy that rewrites Host (httputil.ReverseProxy's default, nginx
// with proxy_pass to an address) must send one of them, as nginx does
// with `proxy_set_header X-Forwarded-Host $http_host;`.
type OriginPolicy struct {
	// Patterns allow more origin hosts, as case-insensitive path.Match
	// patterns such as "*.example.com" or "example.com:8080".
	Patterns []string
	// TrustedProxies are the addresses of the reverse proxies whose
	// forwarding headers are believed. Anyone can send those headers: from
	// an address outside these they are ignored.
	TrustedProxies []netip.Prefix
}

// Check returns nil if r's origin is allowed, else an error that is
// ErrOrigin and says why, naming the hosts compared.
func (p *OriginPolicy) Check(r *http.Request) error {
	if why := p.refusal(r); why != "" {
		return fmt.Errorf("%w: %s", ErrOrigin, why)
	}
	return nil
}

// refusal says why r's origin is not allowed, or "" if it is.
func (p *OriginPolicy) refusal(r *http.Request) string {
	origins := r.Header["Origin"]
	switch len(origins) {
	case 0:
		return ""
	case 1:
	default:
		return "more than one Origin header"
	}
	// A serialized origin is scheme "://" host [":" port]; "null" and
	// anything else has no host to match.
	_, host, ok := strings.Cut(origins[0], "://")
	if !ok || host == "" || strings.ContainsAny(host, "/?#") {
		return "origin " + strconv.Quote(origins[0]) + " has no host"
	}
	asked, via := p.requestHost(r)
	if strings.EqualFold(host, asked) {
		return ""
	}
	lower := strings.ToLower(host)
	for _, pat := range p.Patterns {
		if ok, _ := path.Match(strings.ToLower(pat), lower); ok {
			return ""
		}
	}
	reason := "origin host " + strconv.Quote(host) + " is neither the " + via + " " + strconv.Quote(asked) + " nor allowed by the origin patterns"
	if via == "Host" {
		if name, fwd := forwardedHost(r); fwd != "" {
			reason += "; the request carries " + name + " " + strconv.Quote(fwd) + " from " + r.RemoteAddr + ", not a trusted proxy"
		}
	}
	return reason
}

// requestHost returns the host the client asked for, and the header that
// said so.
func (p *OriginPolicy) requestHost(r *http.Request) (host, via string) {
	if len(p.TrustedProxies) > 0 && p.trusted(r.RemoteAddr) {
		if name, fwd := forwardedHost(r); fwd != "" {
			return fwd, "forwarded host (" + name + ")"
		}
	}
	return r.Host, "Host"
}

// trusted reports whether addr, a RemoteAddr, is one of TrustedProxies.
func (p *OriginPolicy) trusted(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		h, _, err := net.SplitHostPort(addr)
		if err != nil {
			return false
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return false
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr().Unmap()
	for _, pre := range p.TrustedProxies {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedHost returns the host a proxy forwarded and the header it came
// in: the last host= of Forwarded, else the last X-Forwarded-Host; "" if
// neither has one.
func forwardedHost(r *http.Request) (header, host string) {
	fields := r.Header["Forwarded"]
	for i := len(fields) - 1; i >= 0; i-- {
		if h := lastForwardedHost(fields[i]); h != "" {
			return "Forwarded", h
		}
	}
	if v := r.Header["X-Forwarded-Host"]; len(v) > 0 {
		last := v[len(v)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if h := strings.TrimSpace(last); h != "" {
			return "X-Forwarded-Host", h
		}
	}
	return "", ""
}

// lastForwardedHost returns the value of the last host parameter in a
// Forwarded field value: elements separated by commas, pairs by
// semicolons, values tokens or quoted strings (RFC 7239 section 4).
func lastForwardedHost(v string) string {
	var host string
	for v != "" {
		var pair string
		pair, v = cutPair(v)
		name, val, ok := strings.Cut(pair, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "host") {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\`, "")
		}
		host = val
	}
	return host
}

// cutPair cuts v at the first ';' or ',' outside a quoted string.
func cutPair(v string) (pair, rest string) {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case (c == ';' || c == ',') && !quoted:
			return v[:i], v[i+1:]
		}
	}
	return v, ""
}
