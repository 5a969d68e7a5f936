package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const secret = "s3cret-Pa55"

// examplesDatabase is a database loaded with the examples' tables and rows.
func examplesDatabase(t *testing.T) *pgtest.Database {
	t.Helper()
	db := pgtest.NewDatabase(t)
	db.ExecFiles(t, "../../examples/postgres/01_schema.sql", "../../examples/postgres/02_seed.sql")
	return db
}

// withPassword puts a password into a pgtest URL; trust authentication
// ignores it, so only the output can tell it was there.
func withPassword(url string) string {
	return strings.Replace(url, "postgres@", "postgres:"+secret+"@", 1)
}

// copyExamples copies the example deployment to a temporary folder,
// applying edits (old → new) to the named files.
func copyExamples(t *testing.T, edits map[string][2]string) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob("../../examples/*.*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := edits[filepath.Base(f)]; ok {
			if !strings.Contains(string(data), e[0]) {
				t.Fatalf("%s does not contain %q", f, e[0])
			}
			data = []byte(strings.Replace(string(data), e[0], e[1], 1))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "flusso.toml")
}

func unsetEnv(t *testing.T, name string) {
	t.Setenv(name, "") // restored when the test ends
	os.Unsetenv(name)
}

func TestCheckDatabaseAcceptsTheExamples(t *testing.T) {
	db := examplesDatabase(t)
	t.Setenv("DATABASE_URL", withPassword(db.URL))
	code, out, errOut := flusso(t, "check", "-c", examples)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("the password was printed:\n%s%s", out, errOut)
	}
	port := strconv.Itoa(db.Cluster.Port)
	for _, want := range []string{
		"index listings  stays.listings, key id", // the field tree comes first
		"\ndatabase  postgres://postgres@127.0.0.1:" + port + "/" + db.Name + " (env:DATABASE_URL)\n",
		"replication  wal_level logical",
		"publication  flusso: does not exist; flusso will run this at start:\n               CREATE PUBLICATION flusso FOR TABLE stays.listings, stays.hosts,",
		"slot         flusso: flusso will create it at start",
		"index listings     9 tables, 49 columns checked",
		"index night_rates  2 tables, 13 columns checked",
		"database: ok, 1 warning (above)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "index night_rates  stays.night_rates") > strings.Index(out, "\ndatabase  ") {
		t.Errorf("the database findings come after the field tree:\n%s", out)
	}
}

func TestCheckDatabaseJSON(t *testing.T) {
	db := examplesDatabase(t)
	t.Setenv("DATABASE_URL", withPassword(db.URL))
	code, out, errOut := flusso(t, "check", "--format", "json", "-c", examples)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("the password was printed:\n%s", out)
	}
	var report struct {
		OK       bool `json:"ok"`
		Database struct {
			Connection string `json:"connection"`
			Checked    bool   `json:"checked"`
			Server     struct {
				WALLevel string `json:"wal_level"`
			} `json:"server"`
			Publication struct {
				Exists  bool     `json:"exists"`
				Missing []string `json:"missing"`
				SQL     string   `json:"sql"`
				Managed bool     `json:"managed"`
			} `json:"publication"`
			Indexes []struct {
				Name    string   `json:"name"`
				Tables  []string `json:"tables"`
				Columns int      `json:"columns"`
			} `json:"indexes"`
		} `json:"database"`
		Diagnostics []struct {
			Severity, Path, Message, Hint string
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	d := report.Database
	if !report.OK || !d.Checked || d.Server.WALLevel != "logical" || d.Publication.Exists || !d.Publication.Managed ||
		len(d.Publication.Missing) != 12 || !strings.HasPrefix(d.Publication.SQL, "CREATE PUBLICATION flusso FOR TABLE stays.listings,") ||
		len(d.Indexes) != 5 || d.Indexes[0].Columns != 49 || !strings.HasSuffix(d.Connection, " (env:DATABASE_URL)") {
		t.Errorf("database = %+v", d)
	}
	found := false
	for _, diag := range report.Diagnostics {
		found = found || (diag.Path == "capture.publication" && diag.Severity == "warning" && diag.Hint == d.Publication.SQL)
	}
	if !found {
		t.Errorf("the database findings are not among the diagnostics: %+v", report.Diagnostics)
	}
}

// A literal connection_url with a password, and a column the database
// lacks: exit 1, the error located in the schema file, the password unseen.
func TestCheckDatabaseReportsAMissingColumn(t *testing.T) {
	db := examplesDatabase(t)
	unsetEnv(t, "DATABASE_URL")
	config := copyExamples(t, map[string][2]string{
		"flusso.toml":         {`connection_url = "postgres://postgres@127.0.0.1:5432/stays"`, `connection_url = "` + withPassword(db.URL) + `"`},
		"listings.schema.yml": {"column: display_name", "column: display_nam"},
	})
	for _, format := range []string{"human", "json"} {
		code, out, errOut := flusso(t, "check", "--format", format, "-c", config)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s%s", format, code, out, errOut)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("%s: the password was printed:\n%s%s", format, out, errOut)
		}
		want := regexp.MustCompile(`listings\.schema\.yml:\d+:\d+: listings\.host\.displayName: stays\.hosts has no column "display_nam" \(did you mean "display_name"\?\)`)
		if format == "json" {
			want = regexp.MustCompile(`"file": "[^"]*listings\.schema\.yml",\s*"line": \d+,\s*"column": \d+,\s*"path": "listings\.host\.displayName",\s*"message": "stays\.hosts has no column \\"display_nam\\"",\s*"hint": "did you mean \\"display_name\\"\?"`)
		}
		if !want.MatchString(out + errOut) {
			t.Errorf("%s: the output lacks the located error:\n%s%s", format, out, errOut)
		}
		if format == "human" && !strings.Contains(errOut, "database: 1 error, 1 warning") {
			t.Errorf("no error count on stderr:\n%s", errOut)
		}
	}
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestCheckDatabaseUnreachable(t *testing.T) {
	port := strconv.Itoa(closedPort(t))
	t.Setenv("DATABASE_URL", "postgres://flusso:"+secret+"@127.0.0.1:"+port+"/stays?sslmode=disable")
	code, out, errOut := flusso(t, "check", "-c", examples)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	want := "flusso.toml: source.connection_url: cannot connect to postgres://flusso@127.0.0.1:" + port + "/stays (env:DATABASE_URL): "
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "database: not checked") {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	code, out, _ = flusso(t, "check", "--format", "json", "-c", examples)
	if code != 1 || !strings.Contains(out, `"ok": false`) || !strings.Contains(out, `"path": "source.connection_url"`) || !strings.Contains(out, `"checked": false`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("the password was printed:\n%s%s", out, errOut)
	}
}

// A server that accepts the connection and never answers: --timeout bounds
// the wait.
func TestCheckDatabaseTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("DATABASE_URL", "postgres://flusso:"+secret+"@"+l.Addr().String()+"/stays?sslmode=disable")
	start := time.Now()
	code, out, errOut := flusso(t, "check", "--timeout", "300ms", "-c", examples)
	if code != 1 || !strings.Contains(errOut, "source.connection_url: cannot connect to") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the check waited %s despite --timeout 300ms", d)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("the password was printed:\n%s%s", out, errOut)
	}
	if code, _, errOut := flusso(t, "check", "--timeout", "0s", "-c", examples); code != 2 || !strings.Contains(errOut, "--timeout must be positive") {
		t.Errorf("--timeout 0s: exit %d, %s", code, errOut)
	}
}

func TestCheckDatabaseMalformedURL(t *testing.T) {
	for _, bad := range []string{
		"postgres://flusso:" + secret + "@127.0.0.1:notaport/stays",
		"host=127.0.0.1 password=" + secret + " port=x",
	} {
		t.Setenv("DATABASE_URL", bad)
		code, out, errOut := flusso(t, "check", "-c", examples)
		if code != 1 || !strings.Contains(errOut, "source.connection_url: env:DATABASE_URL is not a valid PostgreSQL connection string") {
			t.Errorf("%q: exit %d\n%s", bad, code, errOut)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("the password was printed:\n%s%s", out, errOut)
		}
	}
}

func TestCheckDatabaseUnsetVariable(t *testing.T) {
	unsetEnv(t, "NO_SUCH_DB_URL")
	config := copyExamples(t, map[string][2]string{
		"flusso.toml": {`connection_url = "postgres://postgres@127.0.0.1:5432/stays"`, `connection_url = { env = "NO_SUCH_DB_URL" }`},
	})
	code, out, errOut := flusso(t, "check", "-c", config)
	if code != 1 || !strings.Contains(errOut, "flusso.toml: source.connection_url: environment variable NO_SUCH_DB_URL is not set") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	// --offline needs no database.
	if code, _, errOut := flusso(t, "check", "--offline", "-c", config); code != 0 {
		t.Errorf("--offline: exit %d: %s", code, errOut)
	}
}
