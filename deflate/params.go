package deflate

import (
	"errors"
	"strconv"

	"github.com/pushwire/pushwire/handshake"
)

// ExtensionName is the extension token of RFC 7692.
const ExtensionName = "permessage-deflate"

// Params are the parameters of one offer or response (RFC 7692 section 7.1).
type Params struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int // 0 when absent, else 8..15
	ClientMaxWindowBits     int // 0 when absent or without a value, else 8..15
	// ClientMaxWindowBitsNoValue is set when client_max_window_bits came
	// without a value: in an offer, the client's way to say it can be limited.
	ClientMaxWindowBitsNoValue bool
}

const (
	serverNoTakeover = "server_no_context_takeover"
	clientNoTakeover = "client_no_context_takeover"
	serverMaxBits    = "server_max_window_bits"
	clientMaxBits    = "client_max_window_bits"
)

// ErrParams is returned for a malformed offer or response.
var ErrParams = errors.New("permessage-deflate: malformed parameters")

func paramError(msg string) error { return errors.Join(ErrParams, errors.New(msg)) }

// ParseParams parses the parameters of one permessage-deflate element: an
// unknown or repeated parameter, or a malformed value, is an error.
func ParseParams(ps []handshake.Param) (Params, error) {
	var p Params
	var seen [4]bool
	for _, x := range ps {
		var i int
		switch x.Name {
		case serverNoTakeover:
			i = 0
			p.ServerNoContextTakeover = true
		case clientNoTakeover:
			i = 1
			p.ClientNoContextTakeover = true
		case serverMaxBits:
			i = 2
			bits, ok := windowBits(x.Value)
			if !ok {
				return Params{}, paramError("bad server_max_window_bits " + strconv.Quote(x.Value))
			}
			p.ServerMaxWindowBits = bits
		case clientMaxBits:
			i = 3
			if x.Value == "" {
				p.ClientMaxWindowBitsNoValue = true
				break
			}
			bits, ok := windowBits(x.Value)
			if !ok {
				return Params{}, paramError("bad client_max_window_bits " + strconv.Quote(x.Value))
			}
			p.ClientMaxWindowBits = bits
		default:
			return Params{}, paramError("unknown parameter " + strconv.Quote(x.Name))
		}
		if (i == 0 || i == 1) && x.Value != "" {
			return Params{}, paramError(x.Name + " takes no value")
		}
		if seen[i] {
			return Params{}, paramError("repeated parameter " + x.Name)
		}
		seen[i] = true
	}
	return p, nil
}

// windowBits parses a window size: 8 to 15, in decimal, without a sign or a
// leading zero (RFC 7692 section 7.1.2).
func windowBits(s string) (int, bool) {
	switch {
	case len(s) == 1 && s[0] >= '8' && s[0] <= '9':
		return int(s[0] - '0'), true
	case len(s) == 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '5':
		return 10 + int(s[1]-'0'), true
	}
	return 0, false
}

// Extension returns p as an element of Sec-WebSocket-Extensions.
func (p Params) Extension() handshake.Extension {
	return handshake.Extension{Name: ExtensionName, Params: p.Append(nil)}
}

// Append appends p's parameters to dst, in a canonical order.
func (p Params) Append(dst []handshake.Param) []handshake.Param {
	if p.ServerNoContextTakeover {
		dst = append(dst, handshake.Param{Name: serverNoTakeover})
	}
	if p.ClientNoContextTakeover {
		dst = append(dst, handshake.Param{Name: clientNoTakeover})
	}
	if p.ServerMaxWindowBits != 0 {
		dst = append(dst, handshake.Param{Name: serverMaxBits, Value: strconv.Itoa(p.ServerMaxWindowBits)})
	}
	if p.ClientMaxWindowBits != 0 {
		dst = append(dst, handshake.Param{Name: clientMaxBits, Value: strconv.Itoa(p.ClientMaxWindowBits)})
	} else if p.ClientMaxWindowBitsNoValue {
		dst = append(dst, handshake.Param{Name: clientMaxBits})
	}
	return dst
}

// Config is one side's compression policy. The zero value compresses at
// BestSpeed every message of DefaultThreshold bytes or more, with context
// takeover and full windows.
type Config struct {
	// Level is the compression level, 1 (fastest) to 9; 0 means 1.
	Level int
	// Threshold: messages shorter than this go out uncompressed; 0 means
	// DefaultThreshold, a negative value compresses every message.
	Threshold int
	// Ask for (client) or impose (server) no context takeover in either
	// direction: less memory between messages, worse compression.
	ServerNoContextTakeover, ClientNoContextTakeover bool
	// Window bits to ask for (client) or impose (server), 8 to 15; 0 means 15.
	ServerMaxWindowBits, ClientMaxWindowBits int
}

// DefaultThreshold is the size under which a message is not worth compressing.
const DefaultThreshold = 128

// Agreement is what the two sides agreed for a connection.
type Agreement struct {
	ServerNoContextTakeover, ClientNoContextTakeover bool
	ServerMaxWindowBits, ClientMaxWindowBits         int // 8..15
}

func bitsOr15(b int) int {
	if b < 8 || b > 15 {
		return 15
	}
	return b
}

// Accept is the server's answer to one offer: the response parameters and
// the agreement, or ok false to decline it (RFC 7692 section 5: a server
// declines an offer it cannot or will not honour).
func (c Config) Accept(offer Params) (resp Params, a Agreement, ok bool) {
	resp.ServerNoContextTakeover = offer.ServerNoContextTakeover || c.ServerNoContextTakeover
	resp.ClientNoContextTakeover = offer.ClientNoContextTakeover || c.ClientNoContextTakeover

	// Our window: no larger than the client allows, nor than we want.
	server := bitsOr15(c.ServerMaxWindowBits)
	if offer.ServerMaxWindowBits != 0 {
		server = min(server, offer.ServerMaxWindowBits)
	}
	if offer.ServerMaxWindowBits != 0 || server < 15 {
		resp.ServerMaxWindowBits = server
	}
	// The client's window: we may limit it only if it said it can be.
	client := 15
	if offer.ClientMaxWindowBits != 0 {
		client = offer.ClientMaxWindowBits
	}
	if offer.ClientMaxWindowBits != 0 || offer.ClientMaxWindowBitsNoValue {
		client = min(client, bitsOr15(c.ClientMaxWindowBits))
		if client < 15 || offer.ClientMaxWindowBits != 0 {
			resp.ClientMaxWindowBits = client
		}
	}
	a = Agreement{
		ServerNoContextTakeover: resp.ServerNoContextTakeover,
		ClientNoContextTakeover: resp.ClientNoContextTakeover,
		ServerMaxWindowBits:     server,
		ClientMaxWindowBits:     client,
	}
	return resp, a, true
}

// AcceptOffers answers a client's Sec-WebSocket-Extensions: the first
// permessage-deflate offer it can accept wins, and it returns the element
// to answer with and the agreement. Malformed offers are declined, as RFC
// 7692 section 5 asks; ok is false when none is left.
func (c Config) AcceptOffers(offers []handshake.Extension) (resp handshake.Extension, a Agreement, ok bool) {
	for _, o := range offers {
		if o.Name != ExtensionName {
			continue
		}
		p, err := ParseParams(o.Params)
		if err != nil {
			continue
		}
		if r, a, ok := c.Accept(p); ok {
			return r.Extension(), a, true
		}
	}
	return handshake.Extension{}, Agreement{}, false
}

// VerifyAccepted checks the extensions a server accepted against our
// offer: ok is false when it accepted no permessage-deflate, and an
// element that is malformed, repeated or beyond the offer is an error.
func (c Config) VerifyAccepted(offer Params, accepted []handshake.Extension) (a Agreement, ok bool, err error) {
	for _, e := range accepted {
		if e.Name != ExtensionName {
			continue
		}
		if ok {
			return Agreement{}, false, paramError("permessage-deflate accepted twice")
		}
		p, err := ParseParams(e.Params)
		if err != nil {
			return Agreement{}, false, err
		}
		if a, err = c.Verify(offer, p); err != nil {
			return Agreement{}, false, err
		}
		ok = true
	}
	return a, ok, nil
}

// Offer is the client's offer.
func (c Config) Offer() Params {
	p := Params{
		ServerNoContextTakeover: c.ServerNoContextTakeover,
		ClientNoContextTakeover: c.ClientNoContextTakeover,
	}
	if b := c.ServerMaxWindowBits; b >= 8 && b < 15 {
		p.ServerMaxWindowBits = b
	}
	if b := c.ClientMaxWindowBits; b >= 8 && b < 15 {
		p.ClientMaxWindowBits = b
	} else {
		// We can compress with any window the server asks for.
		p.ClientMaxWindowBitsNoValue = true
	}
	return p
}

// Verify checks the server's response to offer, as a client must (RFC 7692
// section 7.1), and returns the agreement.
func (c Config) Verify(offer, resp Params) (Agreement, error) {
	switch {
	case resp.ClientMaxWindowBitsNoValue:
		return Agreement{}, paramError("client_max_window_bits without a value in a response")
	case offer.ServerNoContextTakeover && !resp.ServerNoContextTakeover:
		return Agreement{}, paramError("server_no_context_takeover requested but not agreed")
	case offer.ServerMaxWindowBits != 0 && (resp.ServerMaxWindowBits == 0 || resp.ServerMaxWindowBits > offer.ServerMaxWindowBits):
		return Agreement{}, paramError("server_max_window_bits larger than offered")
	case resp.ClientMaxWindowBits != 0 && offer.ClientMaxWindowBits == 0 && !offer.ClientMaxWindowBitsNoValue:
		return Agreement{}, paramError("client_max_window_bits not offered")
	case resp.ClientMaxWindowBits != 0 && offer.ClientMaxWindowBits != 0 && resp.ClientMaxWindowBits > offer.ClientMaxWindowBits:
		return Agreement{}, paramError("client_max_window_bits larger than offered")
	}
	client := bitsOr15(offer.ClientMaxWindowBits)
	if resp.ClientMaxWindowBits != 0 {
		client = min(client, resp.ClientMaxWindowBits)
	}
	return Agreement{
		ServerNoContextTakeover: resp.ServerNoContextTakeover,
		ClientNoContextTakeover: resp.ClientNoContextTakeover || c.ClientNoContextTakeover,
		ServerMaxWindowBits:     bitsOr15(resp.ServerMaxWindowBits),
		ClientMaxWindowBits:     client,
	}, nil
}
