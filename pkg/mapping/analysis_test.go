package mapping

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flusso-go/flusso/pkg/config"
)

func TestAnalysisComponents(t *testing.T) {
	s := schema(scalar("t", config.TypeText), scalar("i", config.TypeIdentifier), scalar("k", config.TypeKeyword))
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"builtin", builtin, `{
			"analyzer": {
				"flusso_text": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
				"flusso_code": {"type": "custom", "tokenizer": "whitespace", "filter": ["flusso_code_parts", "lowercase", "asciifolding", "flatten_graph"]}
			},
			"filter": {
				"flusso_code_parts": {"type": "word_delimiter_graph", "generate_word_parts": true, "generate_number_parts": true,
					"split_on_case_change": true, "split_on_numerics": true, "preserve_original": true, "stem_english_possessive": false}
			},
			"normalizer": {
				"flusso_lowercase": {"type": "custom", "filter": ["lowercase", "asciifolding"]}
			}
		}`},
		{"icu", icu, `{
			"analyzer": {
				"flusso_text": {"type": "custom", "tokenizer": "icu_tokenizer", "filter": ["icu_folding"]},
				"flusso_code": {"type": "custom", "tokenizer": "whitespace", "filter": ["flusso_code_parts", "icu_folding", "flatten_graph"]}
			},
			"filter": {
				"flusso_code_parts": {"type": "word_delimiter_graph", "generate_word_parts": true, "generate_number_parts": true,
					"split_on_case_change": true, "split_on_numerics": true, "preserve_original": true, "stem_english_possessive": false}
			},
			"normalizer": {
				"flusso_lowercase": {"type": "custom", "filter": ["icu_folding"]}
			}
		}`},
		// Bare text and keyword fields use nothing of flusso's; identifiers
		// always use their analyzer.
		{"builtin without auto subfields", noAuto, `{
			"analyzer": {
				"flusso_code": {"type": "custom", "tokenizer": "whitespace", "filter": ["flusso_code_parts", "lowercase", "asciifolding", "flatten_graph"]}
			},
			"filter": {
				"flusso_code_parts": {"type": "word_delimiter_graph", "generate_word_parts": true, "generate_number_parts": true,
					"split_on_case_change": true, "split_on_numerics": true, "preserve_original": true, "stem_english_possessive": false}
			}
		}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertJSON(t, "analysis", dig(t, body(t, s, tc.opts), "settings", "analysis"), tc.want)
		})
	}
}

func TestAnalysisOnlyWhatIsUsed(t *testing.T) {
	tests := []struct {
		name   string
		schema *config.Schema
		opts   Options
		want   string // the analysis settings; "" for none at all
	}{
		{"no text", schema(scalar("id", config.TypeLong), scalar("u", config.TypeUUID), scalar("j", config.TypeJSON)), builtin, ""},
		{"bare text", schema(scalar("t", config.TypeText), scalar("k", config.TypeKeyword)), noAuto, ""},
		{"plain enum", schema(scalar("e", config.TypeEnum)), builtin, ""},
		{"text without its subfields", schema(withOptions(scalar("t", config.TypeText), `{"fields":null}`)), builtin,
			`{"analyzer":{"flusso_text":{"type":"custom","tokenizer":"standard","filter":["lowercase","asciifolding"]}}}`},
		{"text with another analyzer", schema(withOptions(scalar("t", config.TypeText), `{"analyzer":"english","fields":{"keyword_lowercase":null}}`)), builtin, ""},
		{"keyword without its text subfield", schema(withOptions(scalar("k", config.TypeKeyword), `{"fields":{"text":null}}`)), builtin,
			`{"normalizer":{"flusso_lowercase":{"type":"custom","filter":["lowercase","asciifolding"]}}}`},
		{"options pick a flusso analyzer", schema(withOptions(scalar("k", config.TypeKeyword), `{"fields":{"code":{"type":"text","analyzer":"flusso_text","search_analyzer":"flusso_text"}}}`)), noAuto,
			`{"analyzer":{"flusso_text":{"type":"custom","tokenizer":"standard","filter":["lowercase","asciifolding"]}}}`},
		{"enum sort dropped", schema(withOptions(enum("e", "a", "b"), `{"fields":null}`)), builtin, ""},
		{"one of two enum sorts dropped", schema(withOptions(enum("e", "a", "b"), `{"fields":{"sort":null}}`), enum("f", "x")), builtin, `{
			"char_filter": {
				"flusso_enum_wrap": {"type": "pattern_replace", "pattern": "(?s)\\A(.*)\\z", "replacement": "\u0002$1\u0003"},
				"flusso_sort_f": {"type": "mapping", "mappings": ["\\u0002x\\u0003 => \\u00010"]}
			},
			"normalizer": {"flusso_sort_f": {"type": "custom", "char_filter": ["flusso_enum_wrap", "flusso_sort_f"]}}
		}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := body(t, tc.schema, tc.opts)
			analysis, ok := dig(t, b, "settings").(map[string]any)["analysis"]
			switch {
			case tc.want == "" && ok:
				t.Errorf("analysis = %s, want none", encode(t, analysis))
			case tc.want != "" && !ok:
				t.Errorf("no analysis, want %s", tc.want)
			case tc.want != "":
				assertJSON(t, "analysis", analysis, tc.want)
			}
			assertDefinitions(t, b)
		})
	}
}

func TestEnumSortNormalizer(t *testing.T) {
	s := schema(
		enum("kind", "room", "apartment", "house", "cabin"),
		relation(config.HasMany, "orders", enum("status", "requested", "confirmed")),
	)
	b := body(t, s, noAuto)
	assertJSON(t, "orders.status", fieldMapping(t, b, "orders.status"),
		`{"type":"keyword","fields":{"sort":{"type":"keyword","normalizer":"flusso_sort_orders_status"}}}`)
	assertJSON(t, "analysis", dig(t, b, "settings", "analysis"), `{
		"char_filter": {
			"flusso_enum_wrap": {"type": "pattern_replace", "pattern": "(?s)\\A(.*)\\z", "replacement": "\u0002$1\u0003"},
			"flusso_sort_kind": {"type": "mapping", "mappings": [
				"\\u0002room\\u0003 => \\u00010",
				"\\u0002apartment\\u0003 => \\u00011",
				"\\u0002house\\u0003 => \\u00012",
				"\\u0002cabin\\u0003 => \\u00013"
			]},
			"flusso_sort_orders_status": {"type": "mapping", "mappings": [
				"\\u0002requested\\u0003 => \\u00010",
				"\\u0002confirmed\\u0003 => \\u00011"
			]}
		},
		"normalizer": {
			"flusso_sort_kind": {"type": "custom", "char_filter": ["flusso_enum_wrap", "flusso_sort_kind"]},
			"flusso_sort_orders_status": {"type": "custom", "char_filter": ["flusso_enum_wrap", "flusso_sort_orders_status"]}
		}
	}`)
}

func TestEnumSortNames(t *testing.T) {
	// a_b.c and a.b_c flatten alike; the later one is numbered.
	s := schema(
		object("a_b", enum("c", "x")),
		object("a", enum("b_c", "y")),
		object("a_b_c", enum("x", "z")),
	)
	b := body(t, s, builtin)
	for path, want := range map[string]string{"a_b.c": "flusso_sort_a_b_c", "a.b_c": "flusso_sort_a_b_c_2", "a_b_c.x": "flusso_sort_a_b_c_x"} {
		if got := dig(t, fieldMapping(t, b, path), "fields", "sort", "normalizer"); got != want {
			t.Errorf("%s: normalizer %v, want %s", path, got, want)
		}
	}
	assertDefinitions(t, b)
}

func TestRankRules(t *testing.T) {
	var eleven []string
	for i := range 11 {
		eleven = append(eleven, "v"+strconv.Itoa(i))
	}
	rules := rankRules(eleven)
	if rules[0] != `\u0002v0\u0003 => \u000100` || rules[10] != `\u0002v10\u0003 => \u000110` {
		t.Errorf("ranks are not zero-padded to one width: %q", rules)
	}
	got := rankRules([]string{`a=>b`, `back\slash`, "line\nbreak", "tab\tx", " padded ", "ünï ✓ 😀", "sep\u2028x"})
	want := []string{
		`\u0002a\u003d\u003eb\u0003 => \u00010`,
		`\u0002back\u005cslash\u0003 => \u00011`,
		`\u0002line\u000abreak\u0003 => \u00012`,
		`\u0002tab\u0009x\u0003 => \u00013`,
		`\u0002 padded \u0003 => \u00014`,
		`\u0002ünï ✓ 😀\u0003 => \u00015`,
		`\u0002sep\u2028x\u0003 => \u00016`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n got  %q\n want %q", got, want)
	}
}

// TestEnumSortOrder runs the normalizer's char filters the way OpenSearch
// does (see osNormalize) and sorts the results as keyword terms.
func TestEnumSortOrder(t *testing.T) {
	variants := []string{"room", "apartment", "house", "cabin", "a=>b", `c\d`, " spaced ", "x\ny", "rooms"}
	for i := 9; i < 12; i++ {
		variants = append(variants, "extra"+strconv.Itoa(i)) // ranks of two digits
	}
	b := body(t, schema(enum("kind", variants...)), builtin)
	analysis := dig(t, b, "settings", "analysis")
	normalizer := dig(t, analysis, "normalizer", "flusso_sort_kind").(map[string]any)

	unknown := []string{"", "0", "00", "bedroom", "room 2", "Room", "zzz", "-1", "!", "rooms2", "roomsroom", "0room"}
	values := append(append([]string(nil), unknown...), variants...)
	type term struct{ value, normalized string }
	var terms []term
	for _, v := range values {
		terms = append(terms, term{v, osNormalize(t, analysis.(map[string]any), normalizer, v)})
	}
	sort.SliceStable(terms, func(i, j int) bool { return terms[i].normalized < terms[j].normalized })

	sortedUnknown := append([]string(nil), unknown...)
	sort.Strings(sortedUnknown)
	want := append(append([]string(nil), variants...), sortedUnknown...)
	for i, tm := range terms {
		if tm.value != want[i] {
			var got []string
			for _, tm := range terms {
				got = append(got, strconv.Quote(tm.value)+"→"+strconv.Quote(tm.normalized))
			}
			t.Fatalf("sort order:\n got  %s\n want %q", strings.Join(got, " "), want)
		}
	}
}

// osNormalize applies a custom normalizer's char filters to v, with the
// semantics of OpenSearch's pattern_replace (Java regex, whole input) and
// mapping (rules "key => value" unescaped like MappingCharFilterFactory,
// longest match first, left to right) char filters.
func osNormalize(t *testing.T, analysis, normalizer map[string]any, v string) string {
	t.Helper()
	for _, name := range normalizer["char_filter"].([]any) {
		cf := dig(t, analysis, "char_filter", name.(string)).(map[string]any)
		switch cf["type"] {
		case "pattern_replace":
			// Go's RE2 reads \A, \z, (?s) and $1 like Java does here.
			re := regexp.MustCompile(cf["pattern"].(string))
			v = re.ReplaceAllString(v, cf["replacement"].(string))
		case "mapping":
			v = applyMapping(t, cf["mappings"].([]any), v)
		default:
			t.Fatalf("char filter %s: unexpected type %v", name, cf["type"])
		}
	}
	if len(normalizer) != 2 { // type and char_filter: no token filters here
		t.Fatalf("normalizer has token filters: %v", normalizer)
	}
	return v
}

var mappingRule = regexp.MustCompile(`^(.*)\s*=>\s*(.*)\s*$`)

func applyMapping(t *testing.T, rules []any, v string) string {
	t.Helper()
	table := map[string]string{}
	for _, r := range rules {
		m := mappingRule.FindStringSubmatch(r.(string))
		if m == nil {
			t.Fatalf("invalid mapping rule %q", r)
		}
		table[unescapeRule(t, strings.TrimSpace(m[1]))] = unescapeRule(t, strings.TrimSpace(m[2]))
	}
	var out strings.Builder
	for i := 0; i < len(v); {
		best := ""
		for k := range table {
			if strings.HasPrefix(v[i:], k) && len(k) > len(best) {
				best = k
			}
		}
		if best == "" {
			out.WriteByte(v[i])
			i++
			continue
		}
		out.WriteString(table[best])
		i += len(best)
	}
	return out.String()
}

// unescapeRule reads a rule side like MappingCharFilterFactory.parseString.
func unescapeRule(t *testing.T, s string) string {
	t.Helper()
	var out []rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(rs) {
			t.Fatalf("invalid escape in %q", s)
		}
		switch rs[i] {
		case 'n':
			c = '\n'
		case 't':
			c = '\t'
		case 'r':
			c = '\r'
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'u':
			if i+4 >= len(rs) {
				t.Fatalf("invalid \\u escape in %q", s)
			}
			n, err := strconv.ParseUint(string(rs[i+1:i+5]), 16, 16)
			if err != nil {
				t.Fatalf("invalid \\u escape in %q: %v", s, err)
			}
			c = rune(n)
			i += 4
		default:
			c = rs[i]
		}
		out = append(out, c)
	}
	return string(out)
}

// TestEveryReferenceIsDefined checks, over schemas using every component
// and every option combination, that the mappings name only analysis
// components the settings define (or OpenSearch's own), and that the
// settings define nothing unused.
func TestEveryReferenceIsDefined(t *testing.T) {
	everything := schema(
		scalar("t", config.TypeText), scalar("i", config.TypeIdentifier), scalar("k", config.TypeKeyword),
		scalar("e", config.TypeEnum), enum("ordered", "a", "b"),
		mapOf("mt", config.TypeText), mapOf("mi", config.TypeIdentifier),
		relation(config.HasMany, "r", enum("status", "x", "y"), scalar("t", config.TypeText)),
		withOptions(scalar("english", config.TypeText), `{"analyzer":"english"}`),
		withOptions(scalar("sub", config.TypeKeyword), `{"fields":{"code":{"type":"text","analyzer":"flusso_code"}}}`),
		agg(config.AggMin, "m", config.TypeText), agg(config.AggIDs, "ids", config.TypeIdentifier),
	)
	schemas := map[string]*config.Schema{
		"everything": everything,
		"text only":  schema(scalar("t", config.TypeText)),
		"map only":   schema(mapOf("m", config.TypeText)),
		"enum only":  schema(enum("e", "a")),
		"no text":    schema(scalar("n", config.TypeLong)),
	}
	for name, s := range schemas {
		for oname, o := range map[string]Options{"builtin": builtin, "icu": icu, "builtin bare": noAuto, "icu bare": noAutoICU} {
			t.Run(name+"/"+oname, func(t *testing.T) {
				b := body(t, s, o)
				assertDefinitions(t, b)
				if o.Analysis != config.AnalysisICU && strings.Contains(encode(t, b), "icu") {
					t.Errorf("a builtin body names an icu component: %s", encode(t, b))
				}
			})
		}
	}
}

// OpenSearch's own analysis components the bodies may name.
var (
	builtinAnalyzers  = map[string]bool{"english": true, "standard": true}
	builtinTokenizers = map[string]bool{"standard": true, "whitespace": true, "icu_tokenizer": true}
	builtinFilters    = map[string]bool{"lowercase": true, "asciifolding": true, "flatten_graph": true, "icu_folding": true}
	// Token filter and char filter types a custom component may declare.
	builtinTypes = map[string]bool{"word_delimiter_graph": true, "mapping": true, "pattern_replace": true}
)

// assertDefinitions checks that every analyzer and normalizer the mappings
// name is defined in settings.analysis (or built in), that every defined
// one is named, and that the filters, char filters and tokenizers of the
// defined ones are defined or built in, and all used.
func assertDefinitions(t *testing.T, b map[string]any) {
	t.Helper()
	analyzers, normalizers := map[string]bool{}, map[string]bool{}
	var mapping func(m map[string]any)
	mapping = func(m map[string]any) {
		if s, ok := m["analyzer"].(string); ok {
			analyzers[s] = true
		}
		if s, ok := m["search_analyzer"].(string); ok {
			analyzers[s] = true
		}
		if s, ok := m["normalizer"].(string); ok {
			normalizers[s] = true
		}
		for _, key := range []string{"properties", "fields"} {
			if children, ok := m[key].(map[string]any); ok {
				for _, c := range children {
					if c, ok := c.(map[string]any); ok {
						mapping(c)
					}
				}
			}
		}
	}
	mappings := dig(t, b, "mappings").(map[string]any)
	mapping(mappings)
	if templates, ok := mappings["dynamic_templates"].([]any); ok {
		for _, tpl := range templates {
			for _, def := range tpl.(map[string]any) {
				mapping(dig(t, def, "mapping").(map[string]any))
			}
		}
	}

	analysis, _ := dig(t, b, "settings").(map[string]any)["analysis"].(map[string]any)
	section := func(name string) map[string]any {
		s, _ := analysis[name].(map[string]any)
		return s
	}
	defined := func(sec map[string]any, used map[string]bool, builtins map[string]bool, what string) {
		t.Helper()
		for name := range used {
			if _, ok := sec[name]; !ok && !builtins[name] {
				t.Errorf("%s %q is used but not defined", what, name)
			}
		}
		for name := range sec {
			if !used[name] {
				t.Errorf("%s %q is defined but not used", what, name)
			}
		}
	}
	defined(section("analyzer"), analyzers, builtinAnalyzers, "analyzer")
	defined(section("normalizer"), normalizers, nil, "normalizer")

	filters, charFilters, tokenizers := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, sec := range []map[string]any{section("analyzer"), section("normalizer")} {
		for _, def := range sec {
			def := def.(map[string]any)
			if def["type"] != "custom" {
				t.Errorf("analysis component %v is not custom", def)
			}
			if tok, ok := def["tokenizer"].(string); ok {
				tokenizers[tok] = true
			}
			for _, f := range asList(def["filter"]) {
				filters[f] = true
			}
			for _, f := range asList(def["char_filter"]) {
				charFilters[f] = true
			}
		}
	}
	defined(section("filter"), filters, builtinFilters, "filter")
	defined(section("char_filter"), charFilters, nil, "char filter")
	defined(section("tokenizer"), tokenizers, builtinTokenizers, "tokenizer")
	for _, sec := range []string{"filter", "char_filter"} {
		for name, def := range section(sec) {
			if typ := def.(map[string]any)["type"].(string); !builtinTypes[typ] {
				t.Errorf("%s %q has type %q", sec, name, typ)
			}
		}
	}
	for key := range analysis {
		switch key {
		case "analyzer", "normalizer", "filter", "char_filter":
		default:
			t.Errorf("unexpected analysis section %q", key)
		}
	}
}

func asList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = x.(string)
	}
	return out
}
