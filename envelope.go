package pushwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Subprotocol is the WebSocket subprotocol of the push layer's envelope; the
// package doc describes it.
const Subprotocol = "pushwire.v1"

// The kinds of envelope (the "t" field).
const (
	kindPub   = "pub"   // server: a publication
	kindSub   = "sub"   // client: subscribe (and resume); server: subscribed, live from here
	kindUnsub = "unsub" // client: unsubscribe; server: unsubscribed
	kindLost  = "lost"  // server: publications were lost for the topic
	kindMsg   = "msg"   // both: a direct message, no topic
	kindErr   = "err"   // server: a request refused
)

// envelope is one message of the pushwire.v1 protocol, a JSON object.
type envelope struct {
	T     string `json:"t"`
	Topic string `json:"topic,omitempty"`
	Epoch string `json:"epoch,omitempty"`
	Off   uint64 `json:"off,omitempty"`
	// Data is a text payload; Bin a binary one, in base64.
	Data   *string `json:"data,omitempty"`
	Bin    []byte  `json:"bin,omitempty"`
	Reason string  `json:"reason,omitempty"`
}

func (e *envelope) position() Position { return Position{e.Epoch, e.Off} }

// payload returns the message an envelope carries.
func (e *envelope) payload() (MessageType, []byte) {
	if e.Data != nil {
		return Text, []byte(*e.Data)
	}
	return Binary, e.Bin
}

func (e *envelope) setPayload(typ MessageType, p []byte) {
	if typ == Text {
		s := string(p)
		e.Data = &s
		return
	}
	e.Bin = p
	if e.Bin == nil {
		e.Bin = []byte{}
	}
}

// encode is the envelope as sent: always valid JSON.
func (e *envelope) encode() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic("pushwire: encoding an envelope: " + err.Error()) // only strings and bytes
	}
	return b
}

// ErrEnvelope is the cause of a close with CloseProtocolError (1002) or
// CloseUnsupportedData (1003) for a message that is not a valid pushwire.v1
// envelope.
var ErrEnvelope = errors.New("pushwire: malformed envelope")

// decodeEnvelope parses and checks a message received on the protocol.
func decodeEnvelope(typ MessageType, b []byte) (*envelope, error) {
	if typ != Text || !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not a JSON text message", ErrEnvelope)
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEnvelope, err)
	}
	if e.T == "" {
		return nil, fmt.Errorf("%w: no kind", ErrEnvelope)
	}
	if e.Data != nil && e.Bin != nil {
		return nil, fmt.Errorf("%w: both data and bin", ErrEnvelope)
	}
	return &e, nil
}
