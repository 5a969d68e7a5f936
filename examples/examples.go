// Package examples carries the holiday-stays example deployment (the
// flusso.toml, the index schemas and the PostgreSQL schema and seed) inside
// the flusso binary, so that `flusso demo` runs from any folder.
package examples

import "embed"

// Files holds flusso.toml, the *.schema.yml and postgres/*.sql, by their
// paths in this folder.
//
//go:embed flusso.toml *.schema.yml postgres/*.sql
var Files embed.FS
