// Package compattest finds, for tests, the files of the Rust flusso 0.15 kept as
// compatibility data outside the repository (shared/compat/flusso-0.15).
package compattest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the flusso-0.15 folder: $FLUSSO_COMPAT_DIR, or
// shared/compat/flusso-0.15 beside or above the working directory, or under
// /work. The test is skipped, saying why, when there is none.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("FLUSSO_COMPAT_DIR"); d != "" {
		return d
	}
	var candidates []string
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, dir)
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, dir := range append(candidates, "/work") {
		c := filepath.Join(dir, "shared", "compat", "flusso-0.15")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	tb.Skip("the Rust flusso 0.15 compatibility files (shared/compat/flusso-0.15) are not on this machine; set FLUSSO_COMPAT_DIR")
	return ""
}
