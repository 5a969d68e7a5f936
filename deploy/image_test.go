package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// binary is a command the images ship.
type binary struct {
	name   string // flusso-capture
	module string // services/capture, relative to the repository root
	pkg    string // ./cmd/flusso-capture, relative to the module
}

// binaries lists cmd/flusso and every services/*/cmd/*.
func binaries(t *testing.T) []binary {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "services", "*", "cmd", "*"))
	if err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, filepath.Join(repoRoot, "cmd", "flusso"))
	var out []binary
	for _, dir := range dirs {
		rel, err := filepath.Rel(repoRoot, dir)
		if err != nil {
			t.Fatal(err)
		}
		mod := rel
		for {
			if _, err := os.Stat(filepath.Join(repoRoot, mod, "go.mod")); err == nil {
				break
			}
			if mod = filepath.Dir(mod); mod == "." {
				t.Fatalf("%s is in no module", rel)
			}
		}
		pkg, _ := filepath.Rel(mod, rel)
		if pkg != "." {
			pkg = "./" + filepath.ToSlash(pkg)
		}
		out = append(out, binary{name: filepath.Base(rel), module: filepath.ToSlash(mod), pkg: pkg})
	}
	if len(out) < 4 {
		t.Fatalf("binaries %v: want flusso and the three services", out)
	}
	return out
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	stage string // "" before the first FROM
	cmd   string // upper case
	args  string
}

func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		out     []instruction
		stage   string
		pending string
	)
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			pending += cont + " "
			continue
		}
		line = strings.TrimSpace(pending + line)
		pending = ""
		if line == "" {
			continue
		}
		cmd, args, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		args = strings.Join(strings.Fields(args), " ")
		if cmd == "FROM" {
			stage = ""
			if _, name, ok := strings.Cut(strings.ToLower(args), " as "); ok {
				stage = name
			}
		}
		out = append(out, instruction{stage: stage, cmd: cmd, args: args})
	}
	return out
}

func dockerfileTargets(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, in := range parseDockerfile(t) {
		if in.cmd == "FROM" && in.stage != "" {
			out = append(out, in.stage)
		}
	}
	return out
}

// stage returns the instructions of one stage.
func stage(all []instruction, name string) []instruction {
	var out []instruction
	for _, in := range all {
		if in.stage == name {
			out = append(out, in)
		}
	}
	return out
}

func find(in []instruction, cmd, contains string) *instruction {
	for i := range in {
		if in[i].cmd == cmd && strings.Contains(in[i].args, contains) {
			return &in[i]
		}
	}
	return nil
}

func TestDockerfile(t *testing.T) {
	all := parseDockerfile(t)
	globalArgs := map[string]string{}
	for _, in := range all {
		if in.stage == "" && in.cmd == "ARG" {
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = v
		}
	}
	goMinor := strings.Join(strings.SplitN(goDirective(t), ".", 3)[:2], ".")
	if re := regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goMinor) + `\.[0-9]+(-[a-z0-9]+)?$`); !re.MatchString(globalArgs["GO_IMAGE"]) {
		t.Errorf("GO_IMAGE %q: want golang:%s.<patch> pinned, the Go of go.work", globalArgs["GO_IMAGE"], goMinor)
	}
	if got := globalArgs["BASE_IMAGE"]; got != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("BASE_IMAGE %q, want gcr.io/distroless/static-debian12:nonroot", got)
	}

	src := stage(all, "src")
	if in := find(src, "ENV", "CGO_ENABLED=0"); in == nil {
		t.Errorf("the src stage does not set CGO_ENABLED=0: static binaries need it")
	}
	if in := find(src, "ENV", "GOWORK=off"); in == nil {
		t.Errorf("the src stage builds in workspace mode, which needs every module of go.work")
	}
	// Every module a binary is built from is in the image, go.mod first.
	for _, m := range workspaceModules(t) {
		if m == "deploy" {
			continue
		}
		files := m + "/go.mod "
		if _, err := os.Stat(filepath.Join(repoRoot, m, "go.sum")); err == nil {
			files += m + "/go.sum "
		}
		if find(src, "COPY", files+m+"/") == nil {
			t.Errorf("the src stage does not copy %s before the sources", files)
		}
		top, _, _ := strings.Cut(m, "/")
		if find(src, "COPY", top+" "+top) == nil {
			t.Errorf("the src stage does not copy the sources of %s", m)
		}
		if in := find(src, "RUN", "go mod download"); in == nil || !strings.Contains(in.args, " "+m+" ") && !strings.Contains(in.args, " "+m+";") {
			t.Errorf("the src stage does not download the modules of %s", m)
		}
	}

	base := stage(all, "base")
	if find(base, "USER", "nonroot") == nil && find(base, "USER", "65532") == nil {
		t.Errorf("the base stage does not run as nonroot")
	}
	if in := find(base, "ARG", "VERSION"); in == nil || find(base, "LABEL", "${VERSION}") == nil {
		t.Errorf("the base stage does not label the image with the VERSION build arg")
	}
	if find(base, "ENV", "FLUSSO_CONFIG=/config/flusso.toml") == nil {
		t.Errorf("the images do not look for the mounted config at /config/flusso.toml")
	}
	// The runtime stages take binaries from the build stages and nothing
	// from the context: the config is mounted, never baked in.
	runtime := map[string]bool{"base": true}
	for _, in := range all {
		if in.cmd == "FROM" {
			from, _, _ := strings.Cut(in.args, " ")
			if runtime[from] || strings.Contains(from, "BASE_IMAGE") {
				runtime[in.stage] = true
			}
		}
		if runtime[in.stage] && (in.cmd == "COPY" || in.cmd == "ADD") && !strings.HasPrefix(in.args, "--from=build-") {
			t.Errorf("runtime stage %s copies from the build context: %s %s", in.stage, in.cmd, in.args)
		}
	}

	targets := map[string]string{"flusso-capture": "capture", "flusso-indexer": "indexer", "flusso-status": "status", "flusso": "flusso"}
	for _, bin := range binaries(t) {
		target, ok := targets[bin.name]
		if !ok {
			t.Errorf("%s/%s has no image target: add one to deploy/Dockerfile and to this test", bin.module, bin.pkg)
			continue
		}
		final := stage(all, target)
		if len(final) == 0 || final[0].args != "base AS "+target {
			t.Errorf("target %s does not derive from base: %+v", target, final)
			continue
		}
		path := "/usr/local/bin/" + bin.name
		if find(final, "ENTRYPOINT", `["`+path+`"]`) == nil {
			t.Errorf("target %s does not run %s", target, path)
		}
		build := stage(all, "build-"+target)
		run := find(build, "RUN", "go build")
		if run == nil || find(final, "COPY", "--from=build-"+target+" /out/"+bin.name+" "+path) == nil {
			t.Errorf("target %s does not ship the binary of stage build-%s", target, target)
			continue
		}
		for _, want := range []string{"cd " + bin.module + " ", "-trimpath", `-ldflags="-s -w"`, "-o /out/" + bin.name + " " + bin.pkg, "GOOS=$TARGETOS GOARCH=$TARGETARCH"} {
			if !strings.Contains(run.args, want) {
				t.Errorf("stage build-%s: %q lacks %s", target, run.args, want)
			}
		}
		if target == "status" || target == "flusso" {
			if find(final, "EXPOSE", "9464 9465") == nil {
				t.Errorf("target %s does not expose the status ports 9464 and 9465", target)
			}
			if find(final, "ENV", "FLUSSO_SERVER_PUBLIC_ADDRESS=0.0.0.0:9464") == nil {
				t.Errorf("target %s serves on loopback, unreachable from outside the container", target)
			}
		}
	}
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if len(patterns) == 0 || patterns[0] != "*" {
		t.Fatalf(".dockerignore should exclude everything first and let in what the images need: %v", patterns)
	}
	for _, m := range workspaceModules(t) {
		top, _, _ := strings.Cut(m, "/")
		if m != "deploy" && !slices.Contains(patterns, "!"+top) {
			t.Errorf(".dockerignore keeps %s out of the build context", m)
		}
	}
	if slices.Contains(patterns, "!deploy") {
		t.Errorf(".dockerignore lets deploy/ into the build context")
	}
}

// TestStaticBinaries builds each binary as deploy/Dockerfile does (each
// module alone, CGO off) for linux/amd64, and checks the result runs on the
// distroless static base: no dynamic loader, no shared library.
func TestStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, bin := range binaries(t) {
		t.Run(bin.name, func(t *testing.T) {
			t.Parallel()
			exe := filepath.Join(out, bin.name)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", exe, bin.pkg)
			cmd.Dir = filepath.Join(root, bin.module)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("go build %s in %s (GOWORK=off, as the image build does; a missing go.sum entry wants `go mod tidy` there): %v\n%s", bin.pkg, bin.module, err, stderr.String())
			}
			f, err := elf.Open(exe)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
				t.Errorf("%s is %v %v, want x86-64", bin.name, f.Class, f.Machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s asks for a dynamic loader: it would not start on a static base", bin.name)
				}
			}
			if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
				t.Errorf("%s links shared libraries %v (%v)", bin.name, libs, err)
			}
			if f.Section(".symtab") != nil {
				t.Errorf("%s keeps its symbol table: -ldflags=-s did not apply", bin.name)
			}
			data, err := os.ReadFile(exe)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(root+string(filepath.Separator))) {
				t.Errorf("%s holds the build machine's path %s: -trimpath did not apply", bin.name, root)
			}
		})
	}
}
