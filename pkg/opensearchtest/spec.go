package opensearchtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SpecEnv names a file that replaces the OpenAPI specification shipped in
// the opensearch-go module.
const SpecEnv = "FLUSSO_OPENSEARCH_SPEC"

const specModule = "github.com/opensearch-project/opensearch-go/v4"

// spec is the loaded OpenAPI specification; loading takes about a second, so
// every server of a test binary shares one read-only copy.
type spec struct {
	doc    *openapi3.T
	router routers.Router
	// standIns maps each operation to a copy whose JSON body schemas are
	// anySchema: openapi3filter checks everything but the body schemas on
	// the copy, and schemas checks those, compiling each schema once where
	// openapi3filter would compile it for every request (see schemacache.go).
	standIns map[*openapi3.Operation]*openapi3.Operation
	schemas  schemaCache
}

// anySchema accepts any value.
var anySchema = &openapi3.SchemaRef{Value: &openapi3.Schema{}}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	path, err := specPath()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI spec %s: %w", path, err)
	}
	// The spec's paths are relative to the cluster root.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	relaxOneOf(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI spec %s: %w", path, err)
	}
	sp := &spec{doc: doc, router: router}
	if doc.IsOpenAPI31OrLater() {
		// Only 3.1 schemas are compiled per call; 3.0 ones are cheap.
		sp.standIns = standIns(doc)
	}
	return sp, nil
})

// standIns makes the stand-in of every operation of doc that has a body
// schema to stand in for.
func standIns(doc *openapi3.T) map[*openapi3.Operation]*openapi3.Operation {
	out := map[*openapi3.Operation]*openapi3.Operation{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			c := *op
			replaced := false
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				if content, ok := standInContent(rb.Value.Content); ok {
					v := *rb.Value
					v.Content = content
					c.RequestBody = &openapi3.RequestBodyRef{Value: &v}
					replaced = true
				}
			}
			if op.Responses.Len() > 0 {
				rs := openapi3.NewResponsesWithCapacity(op.Responses.Len())
				for code, r := range op.Responses.Map() {
					if r != nil && r.Value != nil {
						if content, ok := standInContent(r.Value.Content); ok {
							v := *r.Value
							v.Content = content
							r = &openapi3.ResponseRef{Value: &v}
							replaced = true
						}
					}
					rs.Set(code, r)
				}
				c.Responses = rs
			}
			if replaced {
				out[op] = &c
			}
		}
	}
	return out
}

// standInContent replaces the schemas of c that anySchema can stand in for:
// those openapi3filter decodes a JSON body for the same way whatever the
// schema, that is all but binary ones (decodeBody reads those as files).
func standInContent(c openapi3.Content) (openapi3.Content, bool) {
	out := make(openapi3.Content, len(c))
	replaced := false
	for k, mt := range c {
		if mt != nil && mt.Schema != nil && mt.Schema.Value != nil &&
			!(mt.Schema.Value.Type.Is("string") && mt.Schema.Value.Format == "binary") {
			m := *mt
			m.Schema = anySchema
			mt, replaced = &m, true
		}
		out[k] = mt
	}
	return out, replaced
}

// specPath finds opensearch-openapi.yaml at the root of the opensearch-go
// module the build uses.
func specPath() (string, error) {
	if p := os.Getenv(SpecEnv); p != "" {
		return p, nil
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", specModule).Output()
	if err != nil {
		return "", fmt.Errorf("locate %s (set %s to the spec file): %w", specModule, SpecEnv, err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "opensearch-openapi.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("OpenAPI spec: %w", err)
	}
	return p, nil
}

// relaxOneOf turns every oneOf into anyOf: several of the spec's oneOfs
// overlap, so valid requests match more than one branch.
func relaxOneOf(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		s := r.Value
		seen[s] = true
		if len(s.OneOf) > 0 {
			s.AnyOf = append(s.AnyOf, s.OneOf...)
			s.OneOf = nil
		}
		for _, l := range []openapi3.SchemaRefs{s.AnyOf, s.AllOf, s.PrefixItems} {
			for _, c := range l {
				walk(c)
			}
		}
		for _, c := range []*openapi3.SchemaRef{s.Not, s.Items, s.AdditionalProperties.Schema, s.Contains, s.PropertyNames, s.If, s.Then, s.Else} {
			walk(c)
		}
		for _, m := range []openapi3.Schemas{s.Properties, s.PatternProperties, s.Defs, s.DependentSchemas} {
			for _, c := range m {
				walk(c)
			}
		}
	}
	content := func(c openapi3.Content) {
		for _, mt := range c {
			walk(mt.Schema)
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, p := range doc.Components.Parameters {
		if p.Value != nil {
			walk(p.Value.Schema)
		}
	}
	for _, rb := range doc.Components.RequestBodies {
		if rb.Value != nil {
			content(rb.Value.Content)
		}
	}
	for _, r := range doc.Components.Responses {
		if r.Value != nil {
			content(r.Value.Content)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil {
					walk(p.Value.Schema)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(op.RequestBody.Value.Content)
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					content(r.Value.Content)
				}
			}
		}
	}
}

var validationOptions = &openapi3filter.Options{MultiError: true}

// standInOptions also leaves the decoded body of a request on it, which
// tells that ValidateRequestBody got as far as checking it against the schema.
var standInOptions = &openapi3filter.Options{MultiError: true, KeepValidatedValue: true}

// exchange is a request being served.
type exchange struct {
	in    *openapi3filter.RequestValidationInput
	route *routers.Route
	// standIn is route with the stand-in operation, nil when it has none.
	standIn *routers.Route
}

// jsonBody reports whether a body with content type ct is one openapi3filter
// decodes with its stock JSON decoder, which does not depend on the schema:
// only then is anySchema's check of the decoded value the same as that of
// the real schema, up to the schema check itself.
func jsonBody(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	if strings.ToLower(strings.TrimSpace(mt)) != "application/json" {
		return false
	}
	d := openapi3filter.RegisteredBodyDecoder("application/json")
	return d != nil && reflect.ValueOf(d).Pointer() == reflect.ValueOf(openapi3filter.JSONBodyDecoder).Pointer()
}

// validateRequest checks r (whose body is body) against the spec and returns
// what the response is checked with, or the violation.
func (sp *spec) validateRequest(r *http.Request, body []byte) (*exchange, error) {
	route, params, err := sp.router.FindRoute(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no such operation in the spec: %w", r.Method, r.URL.Path, err)
	}
	x := &exchange{route: route}
	if op := sp.standIns[route.Operation]; op != nil {
		sr := *route
		sr.Operation = op
		x.standIn = &sr
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: validationOptions}
	x.in = in
	bulk := strings.HasPrefix(route.Operation.OperationID, "bulk.")
	switch {
	case bulk:
		// The spec knows _bulk only as application/x-ndjson, which kin-openapi
		// cannot decode; opensearch-go sends application/json. Check the
		// lines against the body schema here.
		opts := *validationOptions
		opts.ExcludeRequestBody = true
		in.Options = &opts
	case x.standIn != nil && jsonBody(r.Header.Get("Content-Type")):
		in.Route, in.Options = x.standIn, standInOptions
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	err = openapi3filter.ValidateRequest(context.Background(), in)
	if in.Route != route {
		err = sp.validateRequestBody(in, route, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err == nil && bulk {
		err = sp.validateBulkBody(route, r.Header.Get("Content-Type"), body)
	}
	in.Route, in.Options = route, validationOptions
	if err != nil {
		return x, fmt.Errorf("%s %s: request: %w", r.Method, r.URL.RequestURI(), err)
	}
	return x, nil
}

// validateRequestBody finishes ValidateRequest on the stand-in route (which
// returned err): it checks the body against the real schema, as
// ValidateRequestBody would have, and adds the error where ValidateRequest
// would have.
func (sp *spec) validateRequestBody(in *openapi3filter.RequestValidationInput, route *routers.Route, err error) error {
	vb, ok := in.Request.Body.(interface{ ValidatedValue() any })
	if !ok {
		// ValidateRequestBody stopped before the schema check (no body,
		// nothing to check, or an error it reported).
		return err
	}
	me, ok := err.(openapi3.MultiError)
	if err != nil && !ok {
		return err // ValidateRequest returns a MultiError with Options.MultiError
	}
	ct := in.Request.Header.Get("Content-Type")
	if in.Route.Operation.RequestBody.Value.Content.Get(ct).Schema != anySchema {
		return err // a schema kept (binary), which ValidateRequestBody checked
	}
	rb := route.Operation.RequestBody.Value
	schema := rb.Content.Get(ct).Schema
	mediaType, _, _ := strings.Cut(ct, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	// The options ValidateRequestBody passes for Options{MultiError: true}
	// on a 3.1 document.
	opts := []openapi3.SchemaValidationOption{openapi3.VisitAsRequest()}
	if openapi3filter.RegisteredBodyEncoder(mediaType) != nil || strings.HasSuffix(mediaType, "+json") {
		opts = append(opts, openapi3.DefaultsSet(func() {}))
	}
	opts = append(opts, openapi3.MultiErrors(), openapi3.EnableJSONSchema2020())
	if verr := sp.schemas.visitJSON(schema.Value, vb.ValidatedValue(), opts...); verr != nil {
		me = append(me, &openapi3filter.RequestError{
			Input:       in,
			RequestBody: rb,
			Reason:      "doesn't match schema" + schemaID(schema),
			Err:         verr,
		})
	}
	if len(me) > 0 {
		return me
	}
	return nil
}

// schemaID is how openapi3filter names schema in errors.
func schemaID(schema *openapi3.SchemaRef) string {
	id := strings.TrimSpace(schema.Ref)
	if id == "" && schema.Value != nil {
		id = strings.TrimSpace(schema.Value.Title)
	}
	if id != "" {
		id = " " + id
	}
	return id
}

func (sp *spec) validateBulkBody(route *routers.Route, contentType string, body []byte) error {
	ct := strings.TrimSpace(strings.Split(contentType, ";")[0])
	if ct != "application/json" && ct != "application/x-ndjson" {
		return fmt.Errorf("_bulk: content type %q is neither application/x-ndjson nor application/json", contentType)
	}
	rb := route.Operation.RequestBody
	if rb == nil || rb.Value == nil {
		return nil
	}
	mt := rb.Value.Content.Get("application/x-ndjson")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	lines, err := ndjson(body)
	if err != nil {
		return fmt.Errorf("_bulk body: %w", err)
	}
	if len(lines) == 0 {
		return errors.New("_bulk body: empty")
	}
	var items []any
	for _, l := range lines {
		var v any
		if err := json.Unmarshal(l, &v); err != nil {
			return fmt.Errorf("_bulk body line: %w", err)
		}
		items = append(items, v)
	}
	if err := mt.Schema.Value.VisitJSON(items, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("_bulk body: %w", err)
	}
	return nil
}

func (sp *spec) validateResponse(x *exchange, status int, header http.Header, body []byte) error {
	in := x.in
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: validationOptions}
	out.SetBodyBytes(body)
	var err error
	if x.standIn != nil && jsonBody(header.Get("Content-Type")) {
		sin := *in
		sin.Route = x.standIn
		out.RequestValidationInput = &sin
		err = openapi3filter.ValidateResponse(context.Background(), out)
		out.RequestValidationInput = in
		if err == nil {
			err = sp.validateResponseBody(out, x, body)
		}
	} else {
		err = openapi3filter.ValidateResponse(context.Background(), out)
	}
	if err != nil {
		return fmt.Errorf("%s %s: response %d: %w", in.Request.Method, in.Request.URL.RequestURI(), status, err)
	}
	return nil
}

// validateResponseBody finishes ValidateResponse on the stand-in route,
// which passed: it checks the body against the real schema if
// ValidateResponse checked it against anySchema.
func (sp *spec) validateResponseBody(out *openapi3filter.ResponseValidationInput, x *exchange, body []byte) error {
	// The way ValidateResponse finds the schema, skipping what it skips.
	switch out.Status {
	case http.StatusNotModified, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusMovedPermanently:
		return nil
	}
	if x.in.Request.Method == http.MethodHead {
		return nil
	}
	media := func(op *openapi3.Operation) *openapi3.MediaType {
		if op.Responses.Len() == 0 {
			return nil
		}
		ref := op.Responses.Status(out.Status)
		if ref == nil {
			ref = op.Responses.Default()
		}
		if ref == nil || ref.Value == nil || len(ref.Value.Content) == 0 {
			return nil
		}
		return ref.Value.Content.Get(out.Header.Get("Content-Type"))
	}
	if mt := media(x.standIn.Operation); mt == nil || mt.Schema != anySchema {
		return nil // not checked, or checked against a schema kept (binary)
	}
	mt := media(x.route.Operation)
	encFn := func(name string) *openapi3.Encoding { return mt.Encoding[name] }
	value, err := openapi3filter.RegisteredBodyDecoder("application/json")(bytes.NewReader(body), out.Header, mt.Schema, encFn)
	if err != nil {
		return &openapi3filter.ResponseError{Input: out, Reason: "failed to decode response body", Err: err}
	}
	// The options ValidateResponse passes for Options{MultiError: true} on a
	// 3.1 document.
	opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors(), openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()}
	if err := sp.schemas.visitJSON(mt.Schema.Value, value, opts...); err != nil {
		return &openapi3filter.ResponseError{Input: out, Reason: "response body doesn't match schema" + schemaID(mt.Schema), Err: err}
	}
	return nil
}

// ndjson splits a newline-delimited JSON body into its non-empty lines.
func ndjson(body []byte) ([][]byte, error) {
	var out [][]byte
	for l := range bytes.SplitSeq(body, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if !json.Valid(l) {
			return nil, fmt.Errorf("line %d is not JSON", len(out)+1)
		}
		out = append(out, l)
	}
	return out, nil
}
