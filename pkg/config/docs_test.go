package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The reference tables of docs/configuration.md are generated from the same
// declarations the loader checks against; this test keeps them current
// (-update rewrites them).

func referenceSections() map[string]string {
	var settings strings.Builder
	settings.WriteString("| key | flag | environment | default | |\n|---|---|---|---|---|\n")
	for _, s := range Settings() {
		def := s.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(&settings, "| `%s` | `--%s` | `%s` | `%s` | %s |\n", s.Key, s.Flag, s.Env, def, s.Doc)
	}

	var tags strings.Builder
	tags.WriteString("| tag | keys (required in bold) | |\n|---|---|---|\n")
	for _, t := range tagSpecs {
		var keys []string
		for _, k := range t.allowed {
			if contains(t.required, k) {
				k = "**" + k + "**"
			}
			keys = append(keys, k)
		}
		fmt.Fprintf(&tags, "| `%s` | %s | %s |\n", t.tag, strings.Join(keys, ", "), t.doc)
	}

	var keys strings.Builder
	keys.WriteString("| key | meaning |\n|---|---|\n")
	for _, k := range fieldKeys {
		fmt.Fprintf(&keys, "| `%s` | %s |\n", k.name, k.doc)
	}

	table := func(specs []keySpec) string {
		var b strings.Builder
		b.WriteString("| key | meaning |\n|---|---|\n")
		for _, k := range specs {
			fmt.Fprintf(&b, "| `%s` | %s |\n", k.name, k.doc)
		}
		return b.String()
	}
	return map[string]string{
		"settings":    settings.String(),
		"tags":        tags.String(),
		"field-keys":  keys.String(),
		"schema-keys": table(schemaKeys),
		"opensearch":  table(openSearchKeys),
		"sink-tls":    table(sinkTLSKeys),
	}
}

var generatedBlock = regexp.MustCompile(`(?s)(<!-- BEGIN generated:([a-z-]+) -->\n).*?(<!-- END generated:([a-z-]+) -->)`)

func TestReferenceDocIsCurrent(t *testing.T) {
	path := filepath.Join(repoRoot(t), "docs", "configuration.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := referenceSections()
	seen := map[string]bool{}
	out := generatedBlock.ReplaceAllStringFunc(string(data), func(block string) string {
		m := generatedBlock.FindStringSubmatch(block)
		seen[m[2]] = true
		body, ok := sections[m[2]]
		if !ok {
			t.Errorf("%s: unknown generated section %q", path, m[2])
			return block
		}
		return m[1] + body + m[3]
	})
	for name := range sections {
		if !seen[name] {
			t.Errorf("%s has no generated section %q", path, name)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out != string(data) {
		t.Errorf("%s is stale: run go test ./pkg/config -run ReferenceDoc -update", path)
	}
}
