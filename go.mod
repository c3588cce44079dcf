module github.com/pushwire/pushwire

go 1.26
