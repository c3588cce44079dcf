package handshake

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, row := range []struct {
		name     string
		policy   OriginPolicy
		remote   string
		host     string
		header   string // "Name: value" lines
		refusal  string // in the error; "" when allowed
		notInErr string
	}{
		{name: "no origin", host: "b:8080"},
		{name: "same host", host: "example.com", header: "Origin: https://example.com"},
		{name: "same host, case", host: "Example.COM", header: "Origin: https://example.com"},
		{name: "other host", host: "b:8080", header: "Origin: https://example.com",
			refusal: `origin host "example.com" is neither the Host "b:8080" nor allowed`},
		{name: "pattern", policy: OriginPolicy{Patterns: []string{"*.example.com"}}, host: "b", header: "Origin: https://app.example.com"},
		{name: "two origins", host: "a", header: "Origin: https://a\nOrigin: https://a", refusal: "more than one Origin header"},
		{name: "null", host: "a", header: "Origin: null", refusal: `origin "null" has no host`},
		{name: "path in origin", host: "a", header: "Origin: https://a/x", refusal: "has no host"},

		{name: "forwarded, trusted", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.1.2.3:4000", host: "b:8080",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com"},
		{name: "forwarded, untrusted", policy: OriginPolicy{TrustedProxies: proxies}, remote: "192.0.2.1:4000", host: "b:8080",
			header:  "Origin: https://example.com\nX-Forwarded-Host: example.com",
			refusal: `the request carries X-Forwarded-Host "example.com" from 192.0.2.1:4000, not a trusted proxy`},
		{name: "forwarded, none trusted", remote: "10.1.2.3:4000", host: "b:8080",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com", refusal: "not a trusted proxy"},
		{name: "forwarded, other host", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.1.2.3:4000", host: "example.com",
			header:  "Origin: https://example.com\nX-Forwarded-Host: other.example",
			refusal: `neither the forwarded host (X-Forwarded-Host) "other.example"`, notInErr: "trusted proxy"},
		{name: "trusted, nothing forwarded", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.1.2.3:4000", host: "example.com",
			header: "Origin: https://example.com"},
		{name: "X-Forwarded-Host list, last", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: evil.example, example.com"},
		{name: "X-Forwarded-Host fields, last", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com\nX-Forwarded-Host: evil.example", refusal: `"evil.example"`},
		{name: "Forwarded", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: `Origin: https://example.com:8443` + "\n" + `Forwarded: for=192.0.2.60;proto=https;host="example.com:8443"`},
		{name: "Forwarded elements, last host", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: "Origin: https://example.com\nForwarded: host=evil.example;for=x, for=\"[2001:db8::1]\";host=example.com;proto=https"},
		{name: "Forwarded quoted separators", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: "Origin: https://example.com\nForwarded: for=\"a;host=evil,b\";host=example.com"},
		{name: "Forwarded over X-Forwarded-Host", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: evil.example\nForwarded: host=example.com"},
		{name: "Forwarded without host", policy: OriginPolicy{TrustedProxies: proxies}, remote: "10.0.0.1:1", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com\nForwarded: for=192.0.2.60"},
		{name: "IPv6 proxy", policy: OriginPolicy{TrustedProxies: proxies}, remote: "[::1]:4000", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com"},
		{name: "IPv4-mapped proxy", policy: OriginPolicy{TrustedProxies: proxies}, remote: "[::ffff:10.0.0.9]:4000", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com"},
		{name: "zone in address", policy: OriginPolicy{TrustedProxies: proxies}, remote: "[fe80::1%eth0]:4000", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com", refusal: "not a trusted proxy"},
		{name: "unparsable address", policy: OriginPolicy{TrustedProxies: proxies}, remote: "pipe", host: "b",
			header: "Origin: https://example.com\nX-Forwarded-Host: example.com", refusal: "not a trusted proxy"},
	} {
		t.Run(row.name, func(t *testing.T) {
			r := &http.Request{Host: row.host, RemoteAddr: row.remote, Header: http.Header{}}
			if row.header != "" {
				for _, line := range strings.Split(row.header, "\n") {
					k, v, _ := strings.Cut(line, ": ")
					r.Header.Add(k, v)
				}
			}
			err := row.policy.Check(r)
			switch {
			case row.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case row.refusal == "":
			case !errors.Is(err, ErrOrigin):
				t.Fatalf("Check: %v, want ErrOrigin", err)
			case !strings.Contains(err.Error(), row.refusal):
				t.Fatalf("Check: %v, want it to say %s", err, row.refusal)
			case row.notInErr != "" && strings.Contains(err.Error(), row.notInErr):
				t.Fatalf("Check: %v, should not say %s", err, row.notInErr)
			}
		})
	}
}
