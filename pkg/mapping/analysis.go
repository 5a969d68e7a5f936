package mapping

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flusso-go/flusso/pkg/config"
)

// Names of the analysis components flusso defines. Enum sort normalizers
// and their char filters are named sortPrefix + the field's path.
const (
	analyzerText        = "flusso_text"
	analyzerCode        = "flusso_code"
	filterCodeParts     = "flusso_code_parts"
	normalizerLowercase = "flusso_lowercase"
	charFilterEnumWrap  = "flusso_enum_wrap"
	sortPrefix          = "flusso_sort_"
)

// Ordered enums sort through a normalizer that rewrites a declared variant
// into its rank. A mapping char filter replaces substrings, not whole values,
// so the value is first wrapped between markers by a pattern_replace char
// filter: STX value ETX. The rank rules match the wrapped variant whole
// ("STX room ETX => SOH 0"), so "bedroom" or "room 2" are not touched.
//
// Ranks are SOH followed by the rank in decimal, zero-padded to one width so
// that they sort as text in rank order. Every other value keeps its STX
// prefix, and STX sorts after SOH: unknown values sort after all the declared
// ones (ascending), and among themselves by their own text.
//
// Limits: matching is exact and case-sensitive (on the value after the
// field's transforms); a value that itself contains SOH, STX or ETX may rank
// wrongly; descending sorts put unknown values first.
const (
	rankMarker  = `\u0001` // escapes as the mapping char filter reads them
	startMarker = `\u0002`
	endMarker   = `\u0003`
)

// sortNormalizer registers the rank table of the enum at path and returns
// the name of its normalizer.
func (b *builder) sortNormalizer(path string, variants []string) (string, error) {
	seen := make(map[string]bool, len(variants))
	for _, v := range variants {
		if seen[v] {
			return "", fmt.Errorf("variant %q is listed twice", v)
		}
		seen[v] = true
	}
	base := sortPrefix + strings.ReplaceAll(path, ".", "_")
	name := base
	// a_b.c and a.b_c flatten to the same name: number the later ones.
	for n := 2; b.sorts[name] != nil; n++ {
		name = base + "_" + strconv.Itoa(n)
	}
	b.sorts[name] = variants
	return name, nil
}

// rankRules are the mapping char filter rules of an enum's variants.
func rankRules(variants []string) []string {
	width := len(strconv.Itoa(len(variants) - 1))
	rules := make([]string, len(variants))
	for i, v := range variants {
		rank := fmt.Sprintf("%0*d", width, i)
		rules[i] = startMarker + escapeRule(v) + endMarker + " => " + rankMarker + rank
	}
	return rules
}

// escapeRule writes s so that the mapping char filter reads it back as is:
// its rules are "key => value" lines that unescape \\ and \uXXXX, so the
// backslash, the arrow's characters and anything that would end or break the
// line are escaped.
func escapeRule(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' || r == '=' || r == '>':
			fmt.Fprintf(&b, `\u%04x`, r)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// refs are the analyzers and normalizers a mapping refers to by name.
type refs struct {
	analyzers   map[string]bool
	normalizers map[string]bool
}

// collectRefs finds every analyzer and normalizer named anywhere in the
// mappings: fields, subfields, dynamic templates and whatever options added.
func collectRefs(mappings map[string]any) refs {
	r := refs{analyzers: map[string]bool{}, normalizers: map[string]bool{}}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok {
					switch k {
					case "analyzer", "search_analyzer", "search_quote_analyzer":
						r.analyzers[s] = true
					case "normalizer":
						r.normalizers[s] = true
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(mappings)
	return r
}

// analysis returns the analysis settings of the components the mappings
// refer to, and nothing else. Names that are not flusso's (a built-in such as
// "english", or one the user defines elsewhere) are left to OpenSearch.
func (b *builder) analysis(used refs) map[string]any {
	icu := b.o.Analysis == config.AnalysisICU
	analyzers := map[string]any{}
	filters := map[string]any{}
	normalizers := map[string]any{}
	charFilters := map[string]any{}

	if used.analyzers[analyzerText] {
		if icu {
			analyzers[analyzerText] = map[string]any{"type": "custom", "tokenizer": "icu_tokenizer", "filter": []any{"icu_folding"}}
		} else {
			analyzers[analyzerText] = map[string]any{"type": "custom", "tokenizer": "standard", "filter": []any{"lowercase", "asciifolding"}}
		}
	}
	if used.analyzers[analyzerCode] {
		// Code and handles: split "ana.silva", "fooBar2" and "foo_bar" into
		// their parts and keep the whole token too, so both "silva" and
		// "ana.silva" match. The whitespace tokenizer leaves the punctuation
		// to the delimiter filter; flatten_graph makes its multi-position
		// original token indexable, and runs at search time too so that
		// queries are analyzed the same way.
		folding := []any{"lowercase", "asciifolding"}
		if icu {
			folding = []any{"icu_folding"}
		}
		analyzers[analyzerCode] = map[string]any{
			"type":      "custom",
			"tokenizer": "whitespace",
			"filter":    append(append([]any{filterCodeParts}, folding...), "flatten_graph"),
		}
		filters[filterCodeParts] = map[string]any{
			"type":                    "word_delimiter_graph",
			"generate_word_parts":     true,
			"generate_number_parts":   true,
			"split_on_case_change":    true,
			"split_on_numerics":       true,
			"preserve_original":       true,
			"stem_english_possessive": false,
		}
	}
	if used.normalizers[normalizerLowercase] {
		if icu {
			// icu_folding case-folds as well as removing accents.
			normalizers[normalizerLowercase] = map[string]any{"type": "custom", "filter": []any{"icu_folding"}}
		} else {
			normalizers[normalizerLowercase] = map[string]any{"type": "custom", "filter": []any{"lowercase", "asciifolding"}}
		}
	}
	for name, variants := range b.sorts {
		if !used.normalizers[name] {
			continue // the field's options dropped or replaced its sort subfield
		}
		normalizers[name] = map[string]any{"type": "custom", "char_filter": []any{charFilterEnumWrap, name}}
		charFilters[name] = map[string]any{"type": "mapping", "mappings": stringsToAny(rankRules(variants))}
		charFilters[charFilterEnumWrap] = map[string]any{
			"type":        "pattern_replace",
			"pattern":     `(?s)\A(.*)\z`,
			"replacement": "\u0002$1\u0003",
		}
	}

	out := map[string]any{}
	for key, section := range map[string]map[string]any{
		"analyzer": analyzers, "filter": filters, "normalizer": normalizers, "char_filter": charFilters,
	} {
		if len(section) > 0 {
			out[key] = section
		}
	}
	return out
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
