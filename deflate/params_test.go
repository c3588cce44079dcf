package deflate

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseParams(t *testing.T) {
	rows := []struct {
		name string
		in   []Param
		want Params
		ok   bool
	}{
		{"empty", nil, Params{}, true},
		{"all", []Param{{"server_no_context_takeover", ""}, {"client_no_context_takeover", ""}, {"server_max_window_bits", "10"}, {"client_max_window_bits", "8"}},
			Params{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 8}, true},
		{"client bits without value", []Param{{"client_max_window_bits", ""}}, Params{ClientMaxWindowBitsNoValue: true}, true},
		{"bits 15", []Param{{"server_max_window_bits", "15"}}, Params{ServerMaxWindowBits: 15}, true},
		{"unknown", []Param{{"x", ""}}, Params{}, false},
		{"duplicate flag", []Param{{"server_no_context_takeover", ""}, {"server_no_context_takeover", ""}}, Params{}, false},
		{"duplicate bits", []Param{{"client_max_window_bits", ""}, {"client_max_window_bits", "9"}}, Params{}, false},
		{"flag with value", []Param{{"client_no_context_takeover", "1"}}, Params{}, false},
		{"server bits without value", []Param{{"server_max_window_bits", ""}}, Params{}, false},
		{"bits 7", []Param{{"server_max_window_bits", "7"}}, Params{}, false},
		{"bits 16", []Param{{"client_max_window_bits", "16"}}, Params{}, false},
		{"bits 0", []Param{{"client_max_window_bits", "0"}}, Params{}, false},
		{"leading zero", []Param{{"server_max_window_bits", "08"}}, Params{}, false},
		{"sign", []Param{{"server_max_window_bits", "+9"}}, Params{}, false},
		{"letters", []Param{{"server_max_window_bits", "abc"}}, Params{}, false},
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
