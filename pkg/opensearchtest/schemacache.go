package opensearchtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	_ "unsafe" // go:linkname

	"github.com/getkin/kin-openapi/openapi3"
)

// For an OpenAPI 3.1 document, kin-openapi's Schema.VisitJSON compiles the
// schema into a JSON Schema 2020-12 validator on every call and throws it
// away: for the large search, index and settings schemas that is most of the
// time a test spends in the stand-in. schemaCache does what VisitJSON does
// (Schema.useJSONSchema2020) with kin-openapi's own functions, but compiles
// each schema once, so results and errors are the ones VisitJSON gives.
//
// The functions are kin-openapi internals, reached with go:linkname; their
// signatures were checked against kinVersion only. With any other version
// the cache is off and every call goes to VisitJSON (correct, slow), and
// TestSchemaCacheVersion says to check them again.
const kinVersion = "v0.153.0"

const kinModule = "github.com/getkin/kin-openapi"

// kinSettings and kinValidator stand for openapi3's schemaValidationSettings
// and jsonSchemaValidator; they are only passed back to openapi3.
type (
	kinSettings  struct{}
	kinValidator struct{}
)

//go:linkname kinNewSettings github.com/getkin/kin-openapi/openapi3.newSchemaValidationSettings
func kinNewSettings(opts ...openapi3.SchemaValidationOption) *kinSettings

//go:linkname kinNewValidator github.com/getkin/kin-openapi/openapi3.newJSONSchemaValidator
func kinNewValidator(schema *openapi3.Schema, settings *kinSettings) (*kinValidator, error)

//go:linkname kinValidate github.com/getkin/kin-openapi/openapi3.(*jsonSchemaValidator).validate
func kinValidate(v *kinValidator, settings *kinSettings, value any) error

//go:linkname kinVisitLegacy github.com/getkin/kin-openapi/openapi3.(*Schema).visitJSON
func kinVisitLegacy(schema *openapi3.Schema, settings *kinSettings, value any) error

//go:linkname kinUsesJSONSchema2020Features github.com/getkin/kin-openapi/openapi3.schemaUsesJSONSchema2020Features
func kinUsesJSONSchema2020Features(schema *openapi3.Schema) bool

//go:linkname kinContainsInternalSchemaRef github.com/getkin/kin-openapi/openapi3.containsInternalSchemaRef
func kinContainsInternalSchemaRef(node any) bool

// kinVersionOK reports whether the build uses kinVersion. Test binaries
// carry no module versions (debug.ReadBuildInfo), so ask the go command, as
// specPath does.
var kinVersionOK = sync.OnceValue(func() bool { return kinBuildVersion() == kinVersion })

func kinBuildVersion() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}", kinModule).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// schemaCache holds the compiled validator of each schema it was asked about.
// Entries are written once and only read afterwards: a compiled validator is
// safe to share, as VisitJSON's is between the goroutines of one call.
type schemaCache struct {
	entries sync.Map // *openapi3.Schema → *schemaEntry
}

type schemaEntry struct {
	once sync.Once
	// v is the compiled validator; nil when compiling failed, which
	// VisitJSON's own fallbacks then handle.
	v *kinValidator
	// legacy: VisitJSON validates with the OpenAPI 3.0 validator although
	// the schema compiled (it refers to components but uses no 2020-12
	// keyword).
	legacy bool
}

// visitJSON is schema.VisitJSON(value, opts...) for opts that include
// openapi3.EnableJSONSchema2020() and not DisableSchemaErrorDetails (which
// VisitJSON rejects with that option), nor per-validation format validators
// (the compiled validator keeps those of its first call).
func (c *schemaCache) visitJSON(schema *openapi3.Schema, value any, opts ...openapi3.SchemaValidationOption) error {
	if !kinVersionOK() {
		return schema.VisitJSON(value, opts...)
	}
	settings := kinNewSettings(opts...)
	e := c.entry(schema, settings)
	switch {
	case e.v == nil:
		return schema.VisitJSON(value, opts...)
	case e.legacy:
		return kinVisitLegacy(schema, settings, value)
	default:
		return kinValidate(e.v, settings, value)
	}
}

// entry compiles schema on first use, as useJSONSchema2020 does on each.
func (c *schemaCache) entry(schema *openapi3.Schema, settings *kinSettings) *schemaEntry {
	v, ok := c.entries.Load(schema)
	if !ok {
		v, _ = c.entries.LoadOrStore(schema, &schemaEntry{})
	}
	e := v.(*schemaEntry)
	e.once.Do(func() {
		uses := kinUsesJSONSchema2020Features(schema)
		v, err := kinNewValidator(schema, settings)
		if err != nil {
			return
		}
		// newJSONSchemaValidator's hasInternalRefs, computed the same way.
		b, err := json.Marshal(schema)
		if err != nil {
			return
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return
		}
		e.v, e.legacy = v, kinContainsInternalSchemaRef(doc) && !uses
	})
	return e
}
