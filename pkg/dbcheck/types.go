package dbcheck

import (
	"fmt"
	"strings"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
)

// Which Postgres types each declared type reads: FORMAT.md's "accepts
// Postgres" column, by base type name (pg_type.typname, domains resolved).

var textFamily = map[string]bool{"text": true, "varchar": true, "bpchar": true, "citext": true, "name": true}

var numberTypes = map[string]bool{"int2": true, "int4": true, "int8": true, "float4": true, "float8": true, "numeric": true}

var intWidth = map[string]int{"int2": 2, "int4": 4, "int8": 8}

var declaredWidth = map[config.ScalarType]int{config.TypeShort: 2, config.TypeInteger: 4, config.TypeLong: 8}

var accepted = map[config.ScalarType][]string{
	config.TypeUUID:      {"uuid"},
	config.TypeBoolean:   {"bool"},
	config.TypeFloat:     {"float4", "float8"},
	config.TypeDouble:    {"float4", "float8"},
	config.TypeDecimal:   {"numeric", "money"},
	config.TypeDate:      {"date"},
	config.TypeTimestamp: {"timestamp", "timestamptz", "time", "timetz"},
	config.TypeBinary:    {"bytea"},
	config.TypeJSON:      {"json", "jsonb"},
}

// verdict is what a declared type makes of a column: nothing (sev empty), a
// warning or an error, with the reason and a hint.
type verdict struct {
	sev    config.Severity
	reason string
	hint   string
}

// judge says whether a field of declared type t can hold the values of col.
func judge(t config.ScalarType, col *catalog.Column) verdict {
	if fits(t, col) {
		return verdict{}
	}
	switch n := col.TypeName; {
	case t.IsInteger() && intWidth[n] > 0:
		return verdict{sev: config.SeverityError, reason: fmt.Sprintf("it holds values %s field cannot", article(string(t))), hint: "declare it " + narrowest(col)}
	case t == config.TypeFloat && n == "float8":
		return verdict{sev: config.SeverityWarning, reason: "a float field keeps only about 7 significant digits of it", hint: "declare it double"}
	}
	return verdict{sev: config.SeverityError, reason: fmt.Sprintf("%s field cannot read it (it reads %s)", article(string(t)), readsText(t)), hint: suggest(col)}
}

// judgeSum says whether a sum of col fits value type t. A sum is wider than
// its column (Postgres sums integers into bigint and numeric), so decimal
// and double hold the sum of any number column; integer types keep the
// column rule.
func judgeSum(t config.ScalarType, col *catalog.Column) verdict {
	switch {
	case t == config.TypeDecimal:
		return verdict{}
	case t == config.TypeDouble && numberTypes[col.TypeName]:
		return verdict{}
	case t == config.TypeFloat && in(col.TypeName, "int8", "float8", "numeric"):
		return verdict{sev: config.SeverityWarning, reason: "a float field keeps only about 7 significant digits of its sum", hint: "declare value_type double or decimal"}
	case t == config.TypeFloat && numberTypes[col.TypeName]:
		return verdict{}
	}
	return judge(t, col)
}

// fits reports whether a field of declared type t reads col without loss.
func fits(t config.ScalarType, col *catalog.Column) bool {
	n := col.TypeName
	switch {
	case t == config.TypeText || t == config.TypeIdentifier || t == config.TypeKeyword:
		return textFamily[n]
	case t == config.TypeEnum:
		return textFamily[n] || col.IsEnum
	case t.IsInteger():
		w := intWidth[n]
		return w > 0 && w <= declaredWidth[t]
	case t == config.TypeFloat:
		return n == "float4"
	}
	return in(n, accepted[t]...)
}

// narrowest is the narrowest declared integer type holding col.
func narrowest(col *catalog.Column) string {
	for _, t := range []config.ScalarType{config.TypeShort, config.TypeInteger, config.TypeLong} {
		if intWidth[col.TypeName] <= declaredWidth[t] {
			return string(t)
		}
	}
	return string(config.TypeLong)
}

// readsText names the column types a declared type reads.
func readsText(t config.ScalarType) string {
	switch {
	case t.IsText() && t != config.TypeEnum:
		return "text, varchar, char, citext or name"
	case t == config.TypeEnum:
		return "the text types or a native enum"
	case t == config.TypeShort:
		return "smallint"
	case t == config.TypeInteger:
		return "smallint or integer"
	case t == config.TypeLong:
		return "smallint, integer or bigint"
	}
	names := map[string]string{"float4": "real", "float8": "double precision", "bool": "boolean"}
	var out []string
	for _, n := range accepted[t] {
		if s, ok := names[n]; ok {
			n = s
		}
		out = append(out, n)
	}
	return orJoin(out)
}

// suggest names the declared types that read col, or a custom field.
func suggest(col *catalog.Column) string {
	var ok []string
	for _, t := range config.ScalarTypes {
		if fits(t, col) {
			ok = append(ok, string(t))
		}
	}
	if len(ok) == 0 {
		return fmt.Sprintf("no scalar type reads %s: declare a custom field with postgres: [%s]", col.Type, col.Type)
	}
	return "declare it " + orJoin(ok)
}

func orJoin(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) && !strings.HasPrefix(word, "u") {
		return "an " + word
	}
	return "a " + word
}

// comparable reports whether two key columns compare with =: both numbers,
// both text, both dates or timestamps, or the same type.
func comparable(a, b *catalog.Column) bool {
	return typeGroup(a) == typeGroup(b)
}

func typeGroup(c *catalog.Column) string {
	switch n := c.TypeName; {
	case numberTypes[n]:
		return "number"
	case textFamily[n]:
		return "text"
	case in(n, "date", "timestamp", "timestamptz"):
		return "datetime"
	default:
		return n
	}
}

// sqlAliases maps the SQL spellings of types to pg_type names.
var sqlAliases = map[string]string{
	"int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8",
	"serial": "int4", "smallserial": "int2", "bigserial": "int8",
	"real": "float4", "double precision": "float8", "float": "float8",
	"boolean": "bool", "decimal": "numeric",
	"character varying": "varchar", "character": "bpchar", "char": "bpchar",
	"timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
	"time without time zone": "time", "time with time zone": "timetz",
	"bit varying": "varbit",
}

// normType reduces a type name to its pg_type spelling: lower case, no type
// modifier, no schema, SQL aliases resolved. Arrays keep their [].
func normType(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for {
		i := strings.IndexByte(s, '(')
		j := strings.IndexByte(s, ')')
		if i < 0 || j < i {
			break
		}
		s = s[:i] + s[j+1:]
	}
	s = strings.Join(strings.Fields(s), " ")
	array := strings.HasSuffix(s, "[]")
	s = strings.TrimSuffix(s, "[]")
	s = strings.ReplaceAll(s, " [", "[")
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	if a, ok := sqlAliases[s]; ok {
		s = a
	}
	if array {
		s = "_" + s
	}
	return s
}

// acceptsCustom reports whether a custom field's postgres list names col's
// type, by its declared name (a domain, schema.enum, numeric(10,2)) or its
// base type name.
func acceptsCustom(postgres []string, col *catalog.Column) bool {
	have, base := normType(col.Type), normType(col.TypeName)
	for _, p := range postgres {
		if n := normType(p); n == have || n == base {
			return true
		}
	}
	return false
}
