module github.com/pushwire/pushwire/fuzz

go 1.26.0

require (
	github.com/gobwas/ws v1.5.0
	github.com/pushwire/pushwire v0.0.0
)

require github.com/gobwas/httphead v0.1.0 // indirect

replace github.com/pushwire/pushwire => ../
