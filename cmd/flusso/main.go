// Command flusso keeps OpenSearch in sync with PostgreSQL. This file wires
// the subcommands and maps failures to exit codes: 0 success, 1 error, 2
// usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries the exit code of a failure that has already been
// reported, or that should be reported as err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "flusso:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors are about the command line.
	fmt.Fprintln(stderr, "flusso:", err)
	fmt.Fprintln(stderr, "Run 'flusso --help' for usage.")
	return 2
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "flusso",
		Short:         "Keep OpenSearch in sync with PostgreSQL",
		Long:          "flusso keeps OpenSearch in sync with PostgreSQL from declarative config:\na flusso.toml and one *.schema.yml per index.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.AddCommand(newCheck(), newSchema(), newEvents(), newRun(), newDLQ(), newSlot(), newStatus(), newIndexes(), newReindex(), newDemo())
	return root
}
