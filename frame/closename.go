package frame

import "strconv"

// closeNames are the names IANA's WebSocket Close Code Number Registry
// gives the codes it defines.
var closeNames = map[CloseCode]string{
	CloseNormal:             "normal closure",
	CloseGoingAway:          "going away",
	CloseProtocolError:      "protocol error",
	CloseUnsupportedData:    "unsupported data",
	CloseNoStatus:           "no status received",
	CloseAbnormal:           "abnormal closure",
	CloseInvalidPayload:     "invalid frame payload data",
	ClosePolicyViolation:    "policy violation",
	CloseTooBig:             "message too big",
	CloseMandatoryExtension: "mandatory extension",
	CloseInternalError:      "internal error",
	CloseServiceRestart:     "service restart",
	CloseTryAgainLater:      "try again later",
	CloseBadGateway:         "bad gateway",
	CloseTLSHandshake:       "TLS handshake",
}

// String returns the code and its registered name, such as "1000 (normal
// closure)", or the code and its range: "4000 (private use)".
func (c CloseCode) String() string {
	s := strconv.Itoa(int(c))
	switch name, ok := closeNames[c]; {
	case ok:
		return s + " (" + name + ")"
	case c >= 3000 && c <= 3999:
		return s + " (registered use)"
	case c >= 4000 && c <= 4999:
		return s + " (private use)"
	}
	return s
}
