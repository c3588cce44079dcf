// Package pushwire is server push over HTTP: topics, fan-out and recovery
// across reconnects, over WebSocket (package conn) with a long-polling
// fallback (package longpoll) behind one endpoint.
package pushwire
