package main

import (
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/spf13/cobra"
)

func newSchema() *cobra.Command {
	return &cobra.Command{
		Use:   "schema config|index",
		Short: "Print the JSON Schema of flusso.toml (config) or of a *.schema.yml (index)",
		Long: `Print the JSON Schema of flusso.toml (config) or of a *.schema.yml (index),
for editors. With yaml-language-server, start a schema file with:

  # yaml-language-server: $schema=<path to the index JSON Schema>`,
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"config", "index"},
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := config.JSONSchema(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}
