package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The parts of a compose file these tests read; docker-compose itself
// validates the rest (TestComposeConfig).
type composeFile struct {
	Services map[string]*composeService `yaml:"services"`
	Volumes  map[string]any             `yaml:"volumes"`
}

type composeService struct {
	Image         string                   `yaml:"image"`
	Build         *composeBuild            `yaml:"build"`
	Command       any                      `yaml:"command"` // a string or a list
	Environment   map[string]string        `yaml:"environment"`
	Volumes       []string                 `yaml:"volumes"`
	Ports         []string                 `yaml:"ports"`
	DependsOn     map[string]composeDepOn  `yaml:"depends_on"`
	Deploy        *struct{ Replicas *int } `yaml:"deploy"`
	Healthcheck   *struct{ Test []string } `yaml:"healthcheck"`
	Profiles      []string                 `yaml:"profiles"`
	ContainerName string                   `yaml:"container_name"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Target     string            `yaml:"target"`
	Args       map[string]string `yaml:"args"`
}

type composeDepOn struct {
	Condition string `yaml:"condition"`
}

func (s *composeService) command() string {
	switch c := s.Command.(type) {
	case string:
		return c
	case []any:
		parts := make([]string, len(c))
		for i, p := range c {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, " ")
	}
	return ""
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &f
}

func (f *composeFile) service(t *testing.T, name string) *composeService {
	t.Helper()
	s := f.Services[name]
	if s == nil {
		t.Fatalf("docker-compose.yml has no service %s; has %v", name, keys(f.Services))
	}
	return s
}

// mount finds the volume mounted at target ("./examples:/config:ro").
func mount(volumes []string, target string) (source string, readOnly, ok bool) {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0], len(parts) > 2 && parts[2] == "ro", true
		}
	}
	return "", false, false
}

func TestComposeDependencies(t *testing.T) {
	f := loadCompose(t)

	pg := f.service(t, "postgres")
	if !strings.HasPrefix(pg.Image, "postgres:15") && !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image %q, want postgres:15 or 16 (the version the tests run)", pg.Image)
	}
	for _, want := range []string{"wal_level=logical", "max_replication_slots=", "max_wal_senders="} {
		if !strings.Contains(pg.command(), want) {
			t.Errorf("postgres command %q lacks %s", pg.command(), want)
		}
	}
	if src, _, ok := mount(pg.Volumes, "/docker-entrypoint-initdb.d"); !ok || filepath.Clean(src) != "examples/postgres" {
		t.Errorf("postgres does not load ./examples/postgres at /docker-entrypoint-initdb.d: %v", pg.Volumes)
	}
	if pg.Environment["POSTGRES_DB"] != "stays" {
		t.Errorf("postgres POSTGRES_DB %q, want stays, the database the examples' schema is loaded into", pg.Environment["POSTGRES_DB"])
	}
	wantHealthcheck(t, "postgres", pg, "pg_isready")

	nats := f.service(t, "nats")
	if !strings.HasPrefix(nats.Image, "nats:2.") {
		t.Errorf("nats image %q, want nats:2.x", nats.Image)
	}
	for _, want := range []string{"-js", "-sd /data", "-m 8222"} {
		if !strings.Contains(" "+nats.command()+" ", " "+want+" ") {
			t.Errorf("nats command %q lacks %s", nats.command(), want)
		}
	}
	if _, _, ok := mount(nats.Volumes, "/data"); !ok {
		t.Errorf("nats keeps its streams outside a volume: %v", nats.Volumes)
	}
	wantHealthcheck(t, "nats", nats, ":8222/healthz")

	search := f.service(t, "opensearch")
	if !strings.HasPrefix(search.Image, "opensearchproject/opensearch:2.") {
		t.Errorf("opensearch image %q, want opensearchproject/opensearch:2.x", search.Image)
	}
	for k, v := range map[string]string{"discovery.type": "single-node", "DISABLE_SECURITY_PLUGIN": "true", "DISABLE_INSTALL_DEMO_CONFIG": "true"} {
		if search.Environment[k] != v {
			t.Errorf("opensearch %s = %q, want %q", k, search.Environment[k], v)
		}
	}
	if opts := search.Environment["OPENSEARCH_JAVA_OPTS"]; !strings.Contains(opts, "-Xmx") {
		t.Errorf("opensearch heap unbounded: OPENSEARCH_JAVA_OPTS %q", opts)
	}
	wantHealthcheck(t, "opensearch", search, "_cluster/health")

	dash := f.service(t, "opensearch-dashboards")
	if !slices.Equal(dash.Profiles, []string{"dashboards"}) {
		t.Errorf("opensearch-dashboards profiles %v, want [dashboards]", dash.Profiles)
	}
	if dash.Environment["DISABLE_SECURITY_DASHBOARDS_PLUGIN"] != "true" {
		t.Errorf("opensearch-dashboards expects a secured OpenSearch")
	}
}

func wantHealthcheck(t *testing.T, name string, s *composeService, want string) {
	t.Helper()
	if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), want) {
		t.Errorf("%s healthcheck %+v, want one with %s", name, s.Healthcheck, want)
	}
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	targets := dockerfileTargets(t)
	examples := loadConfig(t, readExamples(t))
	need := envOf(examples)
	pgDB := f.service(t, "postgres").Environment["POSTGRES_DB"]

	for _, name := range []string{"capture", "indexer", "status"} {
		s := f.service(t, name)
		if s.Build == nil || s.Build.Target != name || filepath.Clean(s.Build.Dockerfile) != "deploy/Dockerfile" || filepath.Clean(s.Build.Context) != "." {
			t.Errorf("%s: build %+v, want target %s of deploy/Dockerfile from the repository root", name, s.Build, name)
		} else if !slices.Contains(targets, name) {
			t.Errorf("%s: deploy/Dockerfile has no target %s (has %v)", name, name, targets)
		}
		if src, ro, ok := mount(s.Volumes, "/config"); !ok || filepath.Clean(src) != "examples" || !ro {
			t.Errorf("%s: examples/ is not mounted read-only at /config: %v", name, s.Volumes)
		}
		if s.Environment["FLUSSO_CONFIG"] != "/config/flusso.toml" {
			t.Errorf("%s: FLUSSO_CONFIG %q, want /config/flusso.toml", name, s.Environment["FLUSSO_CONFIG"])
		}
		wantServiceURL(t, f, name, "FLUSSO_NATS_URL", s.Environment["FLUSSO_NATS_URL"], "nats")
		if c := s.DependsOn["nats"].Condition; c != "service_healthy" {
			t.Errorf("%s: starts before NATS is healthy (depends_on nats: %q)", name, c)
		}
		for dep, d := range s.DependsOn {
			if d.Condition == "service_healthy" && f.service(t, dep).Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
	}

	for _, name := range []string{"capture", "indexer"} {
		s := f.service(t, name)
		for _, dep := range []string{"postgres", "nats", "opensearch"} {
			if c := s.DependsOn[dep].Condition; c != "service_healthy" {
				t.Errorf("%s: depends_on %s condition %q, want service_healthy", name, dep, c)
			}
		}
		db := s.Environment["DATABASE_URL"]
		wantServiceURL(t, f, name, "DATABASE_URL", db, "postgres")
		if u, err := url.Parse(strings.NewReplacer("${", "", "}", "", ":-", "").Replace(db)); err == nil && strings.TrimPrefix(u.Path, "/") != pgDB {
			t.Errorf("%s: DATABASE_URL names database %q, postgres creates %q", name, u.Path, pgDB)
		}
		vars := need.pipeline
		if name == "indexer" {
			vars = append(vars, need.indexer...)
		}
		for _, v := range vars {
			if _, ok := s.Environment[v]; !ok {
				t.Errorf("%s: examples/flusso.toml needs %s, which is not set", name, v)
			}
		}
	}
	for _, sink := range examples.Sinks {
		if sink.OpenSearch != nil {
			v := sink.OpenSearch.URL.ReservedVar()
			wantServiceURL(t, f, "indexer", v, f.service(t, "indexer").Environment[v], "opensearch")
		}
	}
	if _, ok := f.service(t, "indexer").DependsOn["capture"]; !ok {
		t.Errorf("indexer does not start after capture")
	}

	ix := f.service(t, "indexer")
	if ix.ContainerName != "" || len(ix.Ports) != 0 {
		t.Errorf("indexer has container_name %q and ports %v: --scale indexer=N would clash", ix.ContainerName, ix.Ports)
	}
	if ix.Deploy == nil || ix.Deploy.Replicas == nil || *ix.Deploy.Replicas != 2 {
		t.Errorf("indexer deploy %+v, want replicas: 2", ix.Deploy)
	}
	if c := f.service(t, "capture"); c.Deploy != nil && c.Deploy.Replicas != nil && *c.Deploy.Replicas != 1 {
		t.Errorf("capture replicas %d: only one can hold the slot", *c.Deploy.Replicas)
	}

	st := f.service(t, "status")
	for k, want := range map[string]string{"FLUSSO_SERVER_PUBLIC_ADDRESS": "0.0.0.0:9464", "FLUSSO_SERVER_PRIVATE_ADDRESS": "0.0.0.0:9465"} {
		if st.Environment[k] != want {
			t.Errorf("status %s = %q, want %q (a loopback address is unreachable from the host)", k, st.Environment[k], want)
		}
	}
	if tok := st.Environment["FLUSSO_STATUS_TOKEN"]; !strings.HasPrefix(tok, "${FLUSSO_STATUS_TOKEN:-") {
		t.Errorf("status FLUSSO_STATUS_TOKEN %q, want ${FLUSSO_STATUS_TOKEN:-placeholder} so that .env can set it", tok)
	}
	for _, port := range []string{"9464", "9465"} {
		published := false
		for _, p := range st.Ports {
			if strings.HasSuffix(p, ":"+port) {
				published = true
			}
		}
		if !published {
			t.Errorf("status does not publish port %s: %v", port, st.Ports)
		}
	}
	for _, v := range need.status {
		if _, ok := st.Environment[v]; !ok {
			t.Errorf("status: examples/flusso.toml needs %s, which is not set", v)
		}
	}
	if _, ok := st.Environment["DATABASE_URL"]; ok {
		t.Errorf("status gets the database URL it does not need")
	}

	for name, s := range f.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s mounts volume %s, which is not declared", name, src)
				}
			}
		}
	}
}

// wantServiceURL checks that a URL's host is a compose service.
func wantServiceURL(t *testing.T, f *composeFile, service, variable, raw, host string) {
	t.Helper()
	u, err := url.Parse(strings.NewReplacer("${", "", "}", "", ":-", "").Replace(raw))
	if err != nil || u.Hostname() != host {
		t.Errorf("%s: %s = %q, want a URL of the %s service", service, variable, raw, host)
		return
	}
	if f.Services[host] == nil {
		t.Errorf("%s: %s points at %s, which is not a service", service, variable, host)
	}
}

// TestComposeConfig has docker-compose validate the file itself, when it is
// installed (FLUSSO_REQUIRE_DOCKER_COMPOSE=1 makes it required).
func TestComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("FLUSSO_REQUIRE_DOCKER_COMPOSE") == "1" {
			t.Fatal("FLUSSO_REQUIRE_DOCKER_COMPOSE=1 but no docker-compose on PATH (apt-get install docker-compose)")
		}
		t.Skip("no docker-compose on PATH; set FLUSSO_REQUIRE_DOCKER_COMPOSE=1 to require it")
	}
	for _, args := range [][]string{
		{"-f", "docker-compose.yml", "config", "-q"},
		{"-f", "docker-compose.yml", "--profile", "dashboards", "config", "-q"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = repoRoot
		// Only the file and its defaults: no variable of this machine.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out.String())
		} else if s := strings.TrimSpace(out.String()); s != "" {
			t.Errorf("docker-compose %s warns:\n%s", strings.Join(args, " "), s)
		}
	}
}
