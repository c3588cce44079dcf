package handshake

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	pmd := func(ps ...Param) Extension { return Extension{Name: "permessage-deflate", Params: ps} }
	tests := []struct {
		name   string
		values []string
		want   []Extension
		bad    bool
	}{
		{name: "none", values: nil, want: nil},
		{name: "bare", values: []string{"permessage-deflate"}, want: []Extension{pmd()}},
		{name: "params", values: []string{"permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
			want: []Extension{pmd(Param{"client_max_window_bits", ""}, Param{"server_max_window_bits", "10"})}},
		{name: "quoted", values: []string{`permessage-deflate; server_max_window_bits="10"`},
			want: []Extension{pmd(Param{"server_max_window_bits", "10"})}},
		{name: "quoted escape", values: []string{`x; a="\b\c"`}, want: []Extension{{"x", []Param{{"a", "bc"}}}}},
		{name: "whitespace", values: []string{" \tx ;a = 1 ; b\t,\ty ; c=\"d\" "},
			want: []Extension{{"x", []Param{{"a", "1"}, {"b", ""}}}, {"y", []Param{{"c", "d"}}}}},
		{name: "lines", values: []string{"x, y", "z; a=1"},
			want: []Extension{{Name: "x"}, {Name: "y"}, {"z", []Param{{"a", "1"}}}}},
		{name: "same twice", values: []string{"x; a=1, x; a=2"},
			want: []Extension{{"x", []Param{{"a", "1"}}}, {"x", []Param{{"a", "2"}}}}},

		// Empty elements are ignored (RFC 9110 5.6.1.2): Python's
		// websockets sends an empty field for no extension.
		{name: "empty line", values: []string{""}},
		{name: "blank line", values: []string{" \t "}},
		{name: "commas only", values: []string{" , ,, "}},
		{name: "empty element", values: []string{"x,,y"}, want: []Extension{{Name: "x"}, {Name: "y"}}},
		{name: "leading comma", values: []string{", x"}, want: []Extension{{Name: "x"}}},
		{name: "trailing comma", values: []string{"x ,"}, want: []Extension{{Name: "x"}}},
		{name: "empty second line", values: []string{"x", ""}, want: []Extension{{Name: "x"}}},
		{name: "empty first line", values: []string{"", "x; a=1"}, want: []Extension{{"x", []Param{{"a", "1"}}}}},
		{name: "16 empty elements", values: []string{strings.Repeat(",", 16) + "x"}, want: []Extension{{Name: "x"}}},
		{name: "17 empty elements", values: []string{strings.Repeat(",", 17) + "x"}, bad: true},
		{name: "17 empty lines", values: slices.Repeat([]string{""}, 17), bad: true},

		{name: "bad name", values: []string{"x/y"}, bad: true},
		{name: "name is quoted", values: []string{`"x"`}, bad: true},
		{name: "space in name", values: []string{"x y"}, bad: true},
		{name: "empty param", values: []string{"x;"}, bad: true},
		{name: "empty param twice", values: []string{"x; ; a"}, bad: true},
		{name: "no value", values: []string{"x; a="}, bad: true},
		{name: "bad value", values: []string{"x; a=b/c"}, bad: true},
		{name: "unterminated quote", values: []string{`x; a="10`}, bad: true},
		{name: "escape at end", values: []string{`x; a="10\`}, bad: true},
		{name: "quoted non-token", values: []string{`x; a="1 0"`}, bad: true},
		{name: "quoted empty", values: []string{`x; a=""`}, bad: true},
		{name: "control in quote", values: []string{"x; a=\"1\x010\""}, bad: true},
		{name: "after quote", values: []string{`x; a="1"b`}, bad: true},
		{name: "param before name", values: []string{"; a"}, bad: true},
		{name: "semicolon separator", values: []string{"x; a=1 b"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtensions(tt.values)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseExtensions(%q) = %+v, want an error", tt.values, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseExtensions(%q) = %+v, %v; want %+v", tt.values, got, err, tt.want)
			}
		})
	}
}

func TestAppendExtensions(t *testing.T) {
	tests := []struct {
		exts []Extension
		want string
	}{
		{nil, ""},
		{[]Extension{{Name: "permessage-deflate", Params: []Param{{"client_max_window_bits", "10"}, {"server_no_context_takeover", ""}}}},
			"permessage-deflate; client_max_window_bits=10; server_no_context_takeover"},
		{[]Extension{{Name: "a"}, {Name: "b", Params: []Param{{"c", ""}}}}, "a, b; c"},
		// Not a token: written as a quoted-string, which checkExtensions refuses.
		{[]Extension{{Name: "a", Params: []Param{{"c", `x "y"\`}}}}, `a; c="x \"y\"\\"`},
	}
	for _, tt := range tests {
		if got := string(AppendExtensions(nil, tt.exts)); got != tt.want {
			t.Errorf("AppendExtensions(%+v) = %q, want %q", tt.exts, got, tt.want)
		}
		round, err := ParseExtensions([]string{tt.want})
		if ok := checkExtensions(tt.exts) == nil; ok && tt.want != "" && (err != nil || !reflect.DeepEqual(round, tt.exts)) {
			t.Errorf("round trip of %q = %+v, %v", tt.want, round, err)
		}
	}
}

func TestCheckExtensions(t *testing.T) {
	tests := []struct {
		exts []Extension
		ok   bool
	}{
		{nil, true},
		{[]Extension{{Name: "a", Params: []Param{{"b", "1"}, {"c", ""}}}}, true},
		{[]Extension{{Name: ""}}, false},
		{[]Extension{{Name: "a\r\nX: y"}}, false},
		{[]Extension{{Name: "a", Params: []Param{{"", "1"}}}}, false},
		{[]Extension{{Name: "a", Params: []Param{{"b", "1 2"}}}}, false},
	}
	for _, tt := range tests {
		if err := checkExtensions(tt.exts); (err == nil) != tt.ok {
			t.Errorf("checkExtensions(%+v) = %v, want ok %v", tt.exts, err, tt.ok)
		}
	}
}

func TestParseProtocols(t *testing.T) {
	tests := []struct {
		values []string
		want   []string
		bad    bool
	}{
		{values: nil, want: nil},
		{values: []string{"chat"}, want: []string{"chat"}},
		{values: []string{"chat, superchat", "v2.json"}, want: []string{"chat", "superchat", "v2.json"}},
		{values: []string{" \ta\t,b ,  c "}, want: []string{"a", "b", "c"}},
		{values: []string{""}},
		{values: []string{"a,,b"}, want: []string{"a", "b"}},
		{values: []string{"a,"}, want: []string{"a"}},
		{values: []string{",a"}, want: []string{"a"}},
		{values: []string{"a", " "}, want: []string{"a"}},
		{values: []string{strings.Repeat(" ,", 17) + "a"}, bad: true},
		{values: []string{"a b"}, bad: true},
		{values: []string{"a;b"}, bad: true},
		{values: []string{`"a"`}, bad: true},
		{values: []string{"a/1"}, bad: true},
	}
	for _, tt := range tests {
		got, err := ParseProtocols(tt.values)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseProtocols(%q) = %q, want an error", tt.values, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseProtocols(%q) = %q, %v; want %q", tt.values, got, err, tt.want)
		}
	}
}

// TestLongLists parses lists a quadratic parser would take seconds on.
func TestLongLists(t *testing.T) {
	const n = 1 << 14
	protos := strings.Repeat("a , ", n) + "a"
	exts := strings.Repeat("a; b; c=1 , ", n) + "a"
	p, err := ParseProtocols([]string{protos})
	if err != nil || len(p) != n+1 {
		t.Fatalf("ParseProtocols: %d, %v", len(p), err)
	}
	e, err := ParseExtensions([]string{exts})
	if err != nil || len(e) != n+1 {
		t.Fatalf("ParseExtensions: %d, %v", len(e), err)
	}
	// Whitespace and commas only: refused at the 17th empty element.
	if _, err := ParseProtocols([]string{strings.Repeat(" ,", 8*n)}); err == nil {
		t.Fatal("a list of empty elements accepted")
	}
}

func TestHasToken(t *testing.T) {
	h := map[string][]string{"Connection": {"keep-alive", " Keep-Alive ,\tUPGRADE "}, "Upgrade": {"h2c, websocket/13"}}
	if !hasToken(h, "Connection", "upgrade") {
		t.Error("upgrade not found in the second line")
	}
	if hasToken(h, "Upgrade", "websocket") {
		t.Error("websocket/13 taken for websocket")
	}
	if hasToken(h, "Connection", "keep") {
		t.Error("prefix matched")
	}
}

func TestAcceptKey(t *testing.T) {
	// RFC 6455 section 1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
	k := NewKey()
	if !validKey(k) || k == NewKey() {
		t.Fatalf("NewKey = %q", k)
	}
	for _, k := range []string{"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub25jZQ==="} {
		if validKey(k) {
			t.Errorf("validKey(%q) = true", k)
		}
	}
}
