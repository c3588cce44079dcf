package deflate

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pushwire/pushwire/handshake"
)

// ps makes parameters of name, value pairs.
func ps(kv ...string) []handshake.Param {
	var out []handshake.Param
	for i := 0; i < len(kv); i += 2 {
		out = append(out, handshake.Param{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestParseParams(t *testing.T) {
	rows := []struct {
		name string
		in   []handshake.Param
		want Params
		ok   bool
	}{
		{"empty", nil, Params{}, true},
		{"all", ps("server_no_context_takeover", "", "client_no_context_takeover", "", "server_max_window_bits", "10", "client_max_window_bits", "8"),
			Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 8}, true},
		{"client bits without value", ps("client_max_window_bits", ""), Params{ClientMaxWindowBitsNoValue: true}, true},
		{"bits 15", ps("server_max_window_bits", "15"), Params{ServerMaxWindowBits: 15}, true},
		{"unknown", ps("x", ""), Params{}, false},
		{"duplicate flag", ps("server_no_context_takeover", "", "server_no_context_takeover", ""), Params{}, false},
		{"duplicate bits", ps("client_max_window_bits", "", "client_max_window_bits", "9"), Params{}, false},
		{"flag with value", ps("client_no_context_takeover", "1"), Params{}, false},
		{"server bits without value", ps("server_max_window_bits", ""), Params{}, false},
		{"bits 7", ps("server_max_window_bits", "7"), Params{}, false},
		{"bits 16", ps("client_max_window_bits", "16"), Params{}, false},
		{"bits 0", ps("client_max_window_bits", "0"), Params{}, false},
		{"leading zero", ps("server_max_window_bits", "08"), Params{}, false},
		{"sign", ps("server_max_window_bits", "+9"), Params{}, false},
		{"letters", ps("server_max_window_bits", "abc"), Params{}, false},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			got, err := ParseParams(r.in)
			if (err == nil) != r.ok {
				t.Fatalf("err = %v, want ok %v", err, r.ok)
			}
			if err != nil && !errors.Is(err, ErrParams) {
				t.Fatalf("err %v is not ErrParams", err)
			}
			if diff := cmp.Diff(r.want, got); diff != "" {
				t.Fatalf("params (-want +got):\n%s", diff)
			}
			if r.ok {
				back, err := ParseParams(got.Append(nil))
				if err != nil || back != got {
					t.Fatalf("Append does not round trip: %+v %v", back, err)
				}
			}
		})
	}
}

// The server's answer to offers, and the client's check of the answer.
func TestNegotiation(t *testing.T) {
	rows := []struct {
		name     string
		server   Config
		client   Config
		wantResp Params
		want     Agreement
	}{
		{"defaults", Config{}, Config{},
			Params{},
			Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
		{"client asks no takeover both ways", Config{}, Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			Agreement{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
		{"server imposes no takeover", Config{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, Config{},
			Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			Agreement{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}},
		{"client limits server window", Config{}, Config{ServerMaxWindowBits: 9},
			Params{ServerMaxWindowBits: 9},
			Agreement{ServerMaxWindowBits: 9, ClientMaxWindowBits: 15}},
		{"server limits its own window", Config{ServerMaxWindowBits: 10}, Config{},
			Params{ServerMaxWindowBits: 10},
			Agreement{ServerMaxWindowBits: 10, ClientMaxWindowBits: 15}},
		{"smaller of both for server window", Config{ServerMaxWindowBits: 12}, Config{ServerMaxWindowBits: 9},
			Params{ServerMaxWindowBits: 9},
			Agreement{ServerMaxWindowBits: 9, ClientMaxWindowBits: 15}},
		{"server limits client window", Config{ClientMaxWindowBits: 8}, Config{},
			Params{ClientMaxWindowBits: 8},
			Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 8}},
		{"client states its window", Config{}, Config{ClientMaxWindowBits: 11},
			Params{ClientMaxWindowBits: 11},
			Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 11}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			offer := r.client.Offer()
			resp, a, ok := r.server.Accept(offer)
			if !ok {
				t.Fatal("declined")
			}
			if diff := cmp.Diff(r.wantResp, resp); diff != "" {
				t.Fatalf("response (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(r.want, a); diff != "" {
				t.Fatalf("server agreement (-want +got):\n%s", diff)
			}
			ca, err := r.client.Verify(offer, resp)
			if err != nil {
				t.Fatalf("client rejects the answer: %v", err)
			}
			if diff := cmp.Diff(r.want, ca); diff != "" {
				t.Fatalf("client agreement (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	rows := []struct {
		name        string
		offer, resp Params
	}{
		{"client bits without value", Params{ClientMaxWindowBitsNoValue: true}, Params{ClientMaxWindowBitsNoValue: true}},
		{"server window larger than offered", Params{ServerMaxWindowBits: 10}, Params{ServerMaxWindowBits: 12}},
		{"server window missing", Params{ServerMaxWindowBits: 10}, Params{}},
		{"client window not offered", Params{}, Params{ClientMaxWindowBits: 10}},
		{"client window larger than offered", Params{ClientMaxWindowBits: 9}, Params{ClientMaxWindowBits: 10}},
		{"no takeover dropped", Params{ServerNoContextTakeover: true}, Params{}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if _, err := (Config{}).Verify(r.offer, r.resp); !errors.Is(err, ErrParams) {
				t.Fatalf("Verify = %v, want ErrParams", err)
			}
		})
	}
}

// The extension-level negotiation: offers and answers as handshake parses
// them.
func TestAcceptOffers(t *testing.T) {
	other := handshake.Extension{Name: "x-other"}
	bad := handshake.Extension{Name: ExtensionName, Params: ps("server_max_window_bits", "7")}
	good := handshake.Extension{Name: ExtensionName, Params: ps("server_no_context_takeover", "")}
	rows := []struct {
		name   string
		offers []handshake.Extension
		ok     bool
		want   []handshake.Param
	}{
		{"none", nil, false, nil},
		{"only another extension", []handshake.Extension{other}, false, nil},
		{"only a malformed offer", []handshake.Extension{bad}, false, nil},
		{"malformed then good", []handshake.Extension{other, bad, good}, true, ps("server_no_context_takeover", "")},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			resp, a, ok := Config{}.AcceptOffers(r.offers)
			if ok != r.ok {
				t.Fatalf("ok = %v, want %v", ok, r.ok)
			}
			if !ok {
				return
			}
			if resp.Name != ExtensionName || !cmp.Equal(resp.Params, r.want) {
				t.Fatalf("answer %+v, want %s with %v", resp, ExtensionName, r.want)
			}
			if !a.ServerNoContextTakeover || a.ServerMaxWindowBits != 15 || a.ClientMaxWindowBits != 15 {
				t.Fatalf("agreement %+v", a)
			}
		})
	}
}

func TestVerifyAccepted(t *testing.T) {
	c := Config{}
	offer := c.Offer()
	plain := handshake.Extension{Name: ExtensionName}
	rows := []struct {
		name     string
		accepted []handshake.Extension
		ok, err  bool
	}{
		{"none", nil, false, false},
		{"another extension", []handshake.Extension{{Name: "x-other"}}, false, false},
		{"accepted", []handshake.Extension{{Name: "x-other"}, plain}, true, false},
		{"twice", []handshake.Extension{plain, plain}, false, true},
		{"malformed", []handshake.Extension{{Name: ExtensionName, Params: ps("bogus", "")}}, false, true},
		{"beyond the offer", []handshake.Extension{{Name: ExtensionName, Params: ps("client_max_window_bits", "")}}, false, true},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, ok, err := c.VerifyAccepted(offer, r.accepted)
			if ok != r.ok || (err != nil) != r.err {
				t.Fatalf("ok %v, err %v; want ok %v, error %v", ok, err, r.ok, r.err)
			}
			if err != nil && !errors.Is(err, ErrParams) {
				t.Fatalf("err %v is not ErrParams", err)
			}
		})
	}
}
