package frame

// Checker enforces the framing rules that depend on the connection: which
// side masks, which reserved bits an extension allows, and the order of
// fragments. The zero value checks frames received by a client with no
// extension.
type Checker struct {
	// Server is set when the frames come from a client, which must mask them.
	Server bool
	// Rsv holds the reserved bits a negotiated extension gives meaning to.
	// As in RFC 7692, they are allowed on the first frame of a data message
	// only.
	Rsv byte

	inMessage bool
}

// Check applies the rules to the next received header h and advances the
// fragmentation state.
func (c *Checker) Check(h Header) error {
	if h.Masked != c.Server {
		if c.Server {
			return ErrUnmasked
		}
		return ErrMasked
	}
	if h.Rsv != 0 && (h.Rsv&^c.Rsv != 0 || h.Op == OpContinuation || h.Op.IsControl()) {
		return ErrReservedBits
	}
	switch h.Op {
	case OpContinuation:
		if !c.inMessage {
			return ErrUnexpectedContinuation
		}
	case OpText, OpBinary:
		if c.inMessage {
			return ErrExpectedContinuation
		}
	default:
		return nil
	}
	c.inMessage = !h.Fin
	return nil
}

// InMessage reports whether a fragmented message has begun and not ended.
func (c *Checker) InMessage() bool { return c.inMessage }
