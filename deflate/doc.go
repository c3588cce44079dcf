// Package deflate is the permessage-deflate extension of WebSocket (RFC
// 7692): the negotiation of its parameters, on handshake's Extension type
// (Config.AcceptOffers for a server, Offer and VerifyAccepted for a client;
// Accept and Verify over parsed Params), and the codec under an Agreement: a
// Compressor for the messages one side sends, a Decompressor for those it
// receives, each with or without context takeover and with the window the
// agreement allows. It knows nothing of frames: a compressed payload comes
// without the trailing 00 00 ff ff, as a frame carries it, and conn sets
// RSV1.
//
//	a := deflate.Agreement{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
//	z, err := deflate.NewCompressor(a, true, 0).Compress(nil, msg)
//	msg, err = deflate.NewDecompressor(a, false).Decompress(nil, z, 1<<20)
package deflate
