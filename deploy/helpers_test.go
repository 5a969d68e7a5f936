package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
)

// repoRoot is the checkout this module sits in.
const repoRoot = ".."

// noEnv keeps the process environment out of config loading, so that a
// variable set on the test machine cannot change what a test sees.
func noEnv(string) (string, bool) { return "", false }

// loadConfig loads a flusso.toml whose schemas are in files (name → content),
// as the services would find them in their /config folder.
func loadConfig(t *testing.T, files map[string]string) *config.Config {
	t.Helper()
	const dir = "/config"
	toml, ok := files["flusso.toml"]
	if !ok {
		t.Fatalf("no flusso.toml among the config files %v", keys(files))
	}
	read := func(path string) ([]byte, error) {
		if filepath.Dir(path) != dir {
			return nil, os.ErrNotExist
		}
		content, ok := files[filepath.Base(path)]
		if !ok {
			return nil, os.ErrNotExist
		}
		return []byte(content), nil
	}
	cfg, diags := config.Parse(dir+"/flusso.toml", []byte(toml), config.Options{Env: noEnv}, read)
	if err := diags.Err(); err != nil {
		t.Fatalf("the config does not load:\n%v", err)
	}
	return cfg
}

// readExamples returns flusso.toml and the index schemas of examples/.
func readExamples(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(repoRoot, "examples")
	paths, err := filepath.Glob(filepath.Join(dir, "*.schema.yml"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(dir, "flusso.toml"))
	files := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(b)
	}
	return files
}

// configEnv lists what a deployment of cfg must give its services: the
// variables the file names with { env = "..." } (an unset one is an error),
// and the reserved ones through which a URL reaches a literal-free sink.
type configEnv struct {
	pipeline []string // capture and indexer
	indexer  []string // sinks: the indexer only
	status   []string
}

func envOf(cfg *config.Config) configEnv {
	var e configEnv
	add := func(list *[]string, s config.Secret) {
		if v := s.EnvVar(); v != "" {
			*list = append(*list, v)
		}
	}
	add(&e.pipeline, cfg.Source.Connection.URL)
	if p := cfg.Source.Connection.Parts; p != nil {
		add(&e.pipeline, p.Password)
	}
	for _, s := range cfg.Sinks {
		if s.OpenSearch == nil {
			continue
		}
		add(&e.indexer, s.OpenSearch.URL)
		add(&e.indexer, s.OpenSearch.Username)
		add(&e.indexer, s.OpenSearch.Password)
		e.indexer = append(e.indexer, s.OpenSearch.URL.ReservedVar())
	}
	add(&e.status, cfg.Status.Token)
	add(&e.status, cfg.Status.Username)
	add(&e.status, cfg.Status.Password)
	return e
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// goDirective returns the go line of go.work ("1.26.0").
func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return v
		}
	}
	t.Fatal("go.work has no go directive")
	return ""
}

// workspaceModules returns the module folders go.work uses, relative to the
// repository root and without "./".
func workspaceModules(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	inUse := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "use (":
			inUse = true
		case inUse && line == ")":
			inUse = false
		case inUse && line != "":
			mods = append(mods, strings.TrimPrefix(line, "./"))
		case strings.HasPrefix(line, "use "):
			mods = append(mods, strings.TrimPrefix(strings.TrimPrefix(line, "use "), "./"))
		}
	}
	return mods
}
