package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/nats-io/nats.go"
)

// The documented catalogue is what other systems rely on: these tests keep
// docs/events.md and the Go types of catalog.go one and the same.

const docPath = "../../docs/events.md"

// docEvent is one event's section of docs/events.md.
type docEvent struct {
	name    string
	line    int               // of its heading
	fields  map[string]string // table row: field path -> type column
	example []byte            // the JSON of its ```json block
	text    string            // the whole section
}

// readDoc parses the sections under "## The events": a "### `name`"
// heading each, a field table whose first column is a `field` path, and
// one ```json example.
func readDoc(t *testing.T) map[string]*docEvent {
	t.Helper()
	f, err := os.Open(docPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*docEvent{}
	var (
		inEvents, inJSON bool
		cur              *docEvent
		example          bytes.Buffer
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inJSON && line == "```":
			inJSON = false
			if cur.example != nil {
				t.Errorf("%s:%d: a second JSON example in the section of %s", docPath, n, cur.name)
			}
			cur.example = bytes.Clone(example.Bytes())
			example.Reset()
			continue
		case inJSON:
			example.WriteString(line + "\n")
			continue
		case strings.HasPrefix(line, "## "):
			inEvents, cur = line == "## The events", nil
			continue
		case !inEvents:
			continue
		case strings.HasPrefix(line, "### "):
			name := strings.TrimPrefix(line, "### ")
			if len(name) < 3 || name[0] != '`' || name[len(name)-1] != '`' {
				t.Errorf("%s:%d: an event heading is ### `name`, not %q", docPath, n, line)
				cur = nil
				continue
			}
			name = name[1 : len(name)-1]
			if out[name] != nil {
				t.Errorf("%s:%d: a second section for %s", docPath, n, name)
			}
			cur = &docEvent{name: name, line: n, fields: map[string]string{}}
			out[name] = cur
			continue
		case cur == nil:
			continue
		}
		cur.text += line + "\n"
		switch {
		case line == "```json":
			inJSON = true
		case strings.HasPrefix(line, "| `"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) != 3 {
				t.Errorf("%s:%d: a field row has the columns field, type, meaning: %q", docPath, n, line)
				continue
			}
			field := strings.Trim(strings.TrimSpace(cells[0]), "`")
			if _, dup := cur.fields[field]; dup {
				t.Errorf("%s:%d: field %s of %s listed twice", docPath, n, field, cur.name)
			}
			cur.fields[field] = strings.TrimSpace(cells[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no event section under \"## The events\"", docPath)
	}
	return out
}

// constants lists the string constants of catalog.go: the event names.
func constants(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "catalog.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range file.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, v := range s.(*ast.ValueSpec).Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					name, _ := strconv.Unquote(lit.Value)
					names = append(names, name)
				}
			}
		}
	}
	return names
}

func TestEveryConstantIsInTheCatalogue(t *testing.T) {
	consts, names := constants(t), Names()
	if !slices.Equal(consts, names) {
		t.Errorf("the constants of catalog.go are %v, the catalogue lists %v", consts, names)
	}
	for _, name := range names {
		d := NewData(name)
		if d == nil || reflect.TypeOf(d).Kind() != reflect.Pointer || reflect.TypeOf(d).Elem().Kind() != reflect.Struct {
			t.Errorf("%s: data %T, want a pointer to a struct", name, d)
		}
	}
	if NewData("no.such.event") != nil {
		t.Error("an unknown event has a data type")
	}
}

func TestTheDocumentedCatalogue(t *testing.T) {
	doc := readDoc(t)
	for _, name := range Names() {
		if doc[name] == nil {
			t.Errorf("%s: no section ### `%s` under \"## The events\"", docPath, name)
		}
	}
	for name, sec := range doc {
		t.Run(name, func(t *testing.T) {
			data := NewData(name)
			if data == nil {
				t.Fatalf("%s:%d: %s is not an event of the catalogue", docPath, sec.line, name)
			}
			if !strings.Contains(sec.text, "`"+TypeOf(name)+"`") {
				t.Errorf("%s:%d: the section does not name the type `%s`", docPath, sec.line, TypeOf(name))
			}
			if sec.example == nil {
				t.Fatalf("%s:%d: no ```json example", docPath, sec.line)
			}
			dec := json.NewDecoder(bytes.NewReader(sec.example))
			dec.DisallowUnknownFields()
			if err := dec.Decode(data); err != nil {
				t.Fatalf("%s:%d: the example does not decode into %T: %v", docPath, sec.line, data, err)
			}
			again, err := json.Marshal(data)
			if err != nil {
				t.Fatal(err)
			}
			have, want := jsonPaths(t, sec.example), jsonPaths(t, again)
			if !slices.Equal(have, want) {
				t.Errorf("%s:%d: the example has the keys\n  %v\nits type encodes\n  %v", docPath, sec.line, have, want)
			}
			goFields := fieldPaths(reflect.TypeOf(data).Elem(), "")
			for _, f := range goFields {
				if _, ok := sec.fields[f]; !ok {
					t.Errorf("%s:%d: field %s of %T is not in the field table", docPath, sec.line, f, data)
				}
			}
			for f := range sec.fields {
				if !slices.Contains(goFields, f) {
					t.Errorf("%s:%d: the table lists %s, which %T does not have (it has %v)", docPath, sec.line, f, data, goFields)
				}
			}
		})
	}
}

// jsonPaths lists the key paths of a JSON document, sorted: a.b for an
// object's key, a[].b inside arrays.
func jsonPaths(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				set[prefix+k] = true
				walk(prefix+k+".", e)
			}
		case []any:
			for _, e := range v {
				walk(strings.TrimSuffix(prefix, ".")+"[].", e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// fieldPaths lists the JSON names of a struct's fields, and of the fields
// of the structs inside: serving.hash, write[].hash.
func fieldPaths(typ reflect.Type, prefix string) []string {
	var out []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]():
			out = append(out, fieldPaths(ft, prefix+name+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, fieldPaths(ft.Elem(), prefix+name+"[].")...)
		}
	}
	return out
}

// documented returns the example data of every event, decoded.
func documented(t *testing.T) map[string]any {
	t.Helper()
	out := map[string]any{}
	for name, sec := range readDoc(t) {
		data := NewData(name)
		if data == nil || json.Unmarshal(sec.example, data) != nil {
			t.Fatalf("%s: the example of %s does not decode (TestTheDocumentedCatalogue says why)", docPath, name)
		}
		out[name] = data
	}
	return out
}

func TestEveryEventRoundTrips(t *testing.T) {
	p := NewPublisher(nil, changes.NamesFor("stays"), "indexer", "idx1-4242")
	for name, data := range documented(t) {
		msg, err := p.Message(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := "flusso.stays.events.indexer." + name; msg.Subject != want {
			t.Errorf("%s: subject %s, want %s", name, msg.Subject, want)
		}
		e, err := FromMsg(msg.Header, msg.Data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, ok := NameOf(e.Type()); !ok || got != name || e.Type() != TypeOf(name) {
			t.Errorf("%s: type %s", name, e.Type())
		}
		if e.Source() != "/flusso/stays/indexer/idx1-4242" || e.Subject() != name || e.ID() != msg.Header.Get(nats.MsgIdHdr) {
			t.Errorf("%s: source %s, subject %s, id %s", name, e.Source(), e.Subject(), e.ID())
		}
		back := NewData(name)
		if err := e.DataAs(back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back, data) {
			t.Errorf("%s: data %+v came back as %+v", name, data, back)
		}
	}
}

func TestNameOf(t *testing.T) {
	for typ, want := range map[string]string{
		"dev.flusso.batch.committed.v1": "batch.committed",
		"dev.flusso.slot.lag.v2":        "slot.lag",
		"dev.flusso.started.v10":        "started",
		"dev.flusso.started":            "",
		"dev.flusso..v1":                "",
		"dev.flusso.started.v":          "",
		"dev.flusso.started.vx":         "",
		"com.example.started.v1":        "",
	} {
		got, ok := NameOf(typ)
		if got != want || ok != (want != "") {
			t.Errorf("NameOf(%q) = %q, %v; want %q", typ, got, ok, want)
		}
	}
}

// natsBinary reads a NATS message as a CloudEvents binary-mode message with
// sdk-go's binding packages: ce-<attribute> headers, content-type for
// datacontenttype, the body as data. sdk-go's own NATS binding
// (protocol/nats/v2 v2.16) reads structured mode only, so this is how an
// sdk-go program decodes flusso's events independently of FromMsg.
type natsBinary struct {
	header nats.Header
	data   []byte
}

var natsSpecs = spec.WithPrefix("ce-")

func (m natsBinary) ReadEncoding() binding.Encoding {
	if natsSpecs.Version(m.header.Get("ce-specversion")) != nil {
		return binding.EncodingBinary
	}
	return binding.EncodingUnknown
}

func (m natsBinary) ReadStructured(context.Context, binding.StructuredWriter) error {
	return binding.ErrNotStructured
}

func (m natsBinary) ReadBinary(_ context.Context, w binding.BinaryWriter) error {
	v := natsSpecs.Version(m.header.Get("ce-specversion"))
	if v == nil {
		return binding.ErrNotBinary
	}
	for k, vs := range m.header {
		if attr := v.Attribute(k); attr != nil {
			if err := w.SetAttribute(attr, vs[0]); err != nil {
				return err
			}
		} else if lk := strings.ToLower(k); strings.HasPrefix(lk, "ce-") {
			if err := w.SetExtension(lk[3:], vs[0]); err != nil {
				return err
			}
		}
	}
	if ct := m.header.Get("content-type"); ct != "" {
		if err := w.SetAttribute(v.AttributeFromKind(spec.DataContentType), ct); err != nil {
			return err
		}
	}
	return w.SetData(bytes.NewReader(m.data))
}

func (m natsBinary) GetAttribute(k spec.Kind) (spec.Attribute, any) {
	v := natsSpecs.Version(m.header.Get("ce-specversion"))
	if v == nil {
		return nil, nil
	}
	attr := v.AttributeFromKind(k)
	if attr == nil {
		return nil, nil
	}
	h := "ce-" + attr.Name()
	if k == spec.DataContentType {
		h = "content-type"
	}
	if vs := m.header.Values(h); len(vs) > 0 {
		return attr, vs[0]
	}
	return attr, nil
}

func (m natsBinary) GetExtension(name string) any {
	if vs := m.header.Values("ce-" + name); len(vs) > 0 {
		return vs[0]
	}
	return nil
}

func TestSDKBindingReadsTheEvents(t *testing.T) {
	p := NewPublisher(nil, changes.NamesFor("stays"), "capture", "db1-4100")
	for name, data := range documented(t) {
		msg, err := p.Message(name, data)
		if err != nil {
			t.Fatal(err)
		}
		e, err := binding.ToEvent(context.Background(), natsBinary{msg.Header, msg.Data})
		if err != nil {
			t.Fatalf("%s: sdk-go binding: %v", name, err)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		mine, err := FromMsg(msg.Header, msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.SpecVersion() != cloudevents.CloudEventsVersionV1 || e.ID() != mine.ID() || e.Type() != mine.Type() ||
			e.Source() != mine.Source() || e.Subject() != mine.Subject() || !e.Time().Equal(mine.Time()) ||
			e.DataContentType() != cloudevents.ApplicationJSON || len(e.Extensions()) != 0 {
			t.Errorf("%s: sdk-go reads\n  %v\nFromMsg reads\n  %v", name, e, mine)
		}
		back := NewData(name)
		if err := e.DataAs(back); err != nil || !reflect.DeepEqual(back, data) {
			t.Errorf("%s: sdk-go data %s: %v", name, e.Data(), err)
		}
	}
}

// A structured-mode copy (what flusso events --format json prints) reads
// back as the same event.
func TestStructuredModeRoundTrips(t *testing.T) {
	p := NewPublisher(nil, changes.NamesFor("stays"), "indexer", "idx1-4242")
	msg, err := p.Message(BatchCommitted, BatchCommittedData{Instance: "idx1-4242", Changes: 3, Indexes: map[string]int{"listings": 2}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := FromMsg(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back cloudevents.Event
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatal(err)
	}
	var d BatchCommittedData
	if err := back.DataAs(&d); err != nil || d.Changes != 3 || d.Indexes["listings"] != 2 || back.ID() != e.ID() {
		t.Errorf("%s came back as %v (%v)", line, back, err)
	}
}
