// Package fuzz holds differential fuzz targets that run pushwire's frame
// codec and a peer library on the same input and fail on any disagreement
// that is not a known, documented difference (see README.md).
//
// It is a module of its own so that peer libraries never enter pushwire's
// go.mod. Run the seeds with go test; fuzz one target with
//
//	go test -run '^$' -fuzz '^FuzzHeaderGobwas$' -fuzztime 2m
package fuzz
