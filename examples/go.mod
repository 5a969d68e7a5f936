module github.com/flusso-go/flusso/examples

go 1.26.0
