module github.com/flusso-go/flusso/cmd/flusso

go 1.26

require github.com/flusso-go/flusso/pkg v0.0.0

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace github.com/flusso-go/flusso/pkg => ../../pkg
