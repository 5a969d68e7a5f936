package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	goccyyaml "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// YAML reading: yaml.v3 decides what is valid YAML and gives every node its
// line and column; its syntax errors carry only a line (often the wrong one),
// so when it rejects a file the goccy parser is asked for the exact place.

// maxYAMLNodes bounds the nodes read, which aliases can multiply ("billion
// laughs"), and maxYAMLDepth the nesting, which an alias referring to its own
// ancestor makes endless.
const (
	maxYAMLNodes = 100_000
	maxYAMLDepth = 64
)

type yreader struct {
	c       collector
	visited int
	depth   int
	stopped bool // a limit was reported; reading stops
}

// enter descends into a node; false means a limit was reached, and the
// caller reads no further.
func (r *yreader) enter(n *yaml.Node, path string) bool {
	r.depth++
	r.visited++
	switch {
	case r.stopped:
		return false
	case r.depth > maxYAMLDepth:
		r.stopped = true
		r.c.errorf(r.pos(n), path, "nested more than %d levels deep (an alias inside the node it names?)", maxYAMLDepth)
		return false
	case r.visited > maxYAMLNodes:
		r.stopped = true
		r.c.errorf(r.pos(n), path, "the document has more than %d nodes (aliases expanded)", maxYAMLNodes)
		return false
	}
	return true
}

func (r *yreader) leave() { r.depth-- }

type pair struct {
	key *yaml.Node
	val *yaml.Node
}

func (r *yreader) pos(n *yaml.Node) Position {
	return Position{File: r.c.file, Line: n.Line, Column: n.Column}
}

// parseYAML returns the root mapping node of a single-document file, or nil
// after reporting why there is none.
func (r *yreader) parseYAML(data []byte) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		r.c.errorf(syntaxPosition(r.c.file, data, err), "", "invalid YAML: %s", yamlMessage(err))
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		r.c.errorf(Position{File: r.c.file, Line: next.Line, Column: next.Column}, "", "the file holds a second YAML document: a schema file holds exactly one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		r.c.errorf(syntaxPosition(r.c.file, data, err), "", "invalid YAML: %s", yamlMessage(err))
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		r.c.errorf(Position{File: r.c.file, Line: 1, Column: 1}, "", "the file is empty")
		return nil
	}
	root := r.resolve(doc.Content[0])
	if root == nil {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		r.c.errorf(r.pos(root), "", "expected a mapping of keys at the top of the file, found %s", describe(root))
		return nil
	}
	return root
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlMessage strips the library's prefixes from a syntax error.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		msg = err.Error()[len(m[0]):]
	}
	return msg
}

// syntaxPosition finds where a syntax error is, preferring goccy's line and
// column and falling back on yaml.v3's line.
func syntaxPosition(file string, data []byte, v3err error) Position {
	pos := Position{File: file}
	if m := yamlLine.FindStringSubmatch(v3err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
	}
	func() {
		defer func() { _ = recover() }() // a position is a courtesy; never crash for it
		_, err := goccyparser.ParseBytes(data, 0)
		var se *goccyyaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil && se.Token.Position != nil && se.Token.Position.Line > 0 {
			pos.Line, pos.Column = se.Token.Position.Line, se.Token.Position.Column
		}
	}()
	if pos.Line == 0 {
		pos.Line = 1
	}
	return pos
}

// resolve follows aliases to the node they name.
func (r *yreader) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns the entries of a mapping, merge keys (<<) expanded, and
// reports duplicate keys. ok is false when n is not a mapping.
func (r *yreader) pairs(n *yaml.Node, path, what string) ([]pair, bool) {
	n = r.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		r.c.errorf(r.pos(n), path, "expected %s (a mapping of keys), found %s", what, describe(n))
		return nil, false
	}
	var out []pair
	seen := map[string]*yaml.Node{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := r.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return nil, false
		}
		if k.Kind != yaml.ScalarNode {
			r.c.errorf(r.pos(k), path, "a key must be a plain word, found %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			merged = append(merged, r.mergePairs(v, path)...)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			r.c.errorf(r.pos(k), path, "key %q is given twice (first on line %d)", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	// Explicit keys win over merged ones.
	for _, p := range merged {
		if _, dup := seen[p.key.Value]; !dup {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out, true
}

func (r *yreader) mergePairs(v *yaml.Node, path string) []pair {
	v = r.resolve(v)
	if v == nil {
		return nil
	}
	defer r.leave()
	if !r.enter(v, path) {
		return nil
	}
	var sources []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{v}
	case yaml.SequenceNode:
		sources = v.Content
	default:
		r.c.errorf(r.pos(v), path, "a merge key (<<) needs a mapping or a list of mappings")
		return nil
	}
	var out []pair
	for _, s := range sources {
		ps, _ := r.pairs(s, path, "a mapping to merge")
		out = append(out, ps...)
	}
	return out
}

// known checks every key of a mapping against the allowed ones, reporting the
// others with a suggestion, and returns the allowed pairs by name.
func (r *yreader) known(ps []pair, path string, allowed []string, what string) map[string]pair {
	out := make(map[string]pair, len(ps))
	for _, p := range ps {
		if contains(allowed, p.key.Value) {
			out[p.key.Value] = p
			continue
		}
		r.unknownKey(p.key, path, allowed, what)
	}
	return out
}

func (r *yreader) unknownKey(k *yaml.Node, path string, candidates []string, what string) {
	hint := didYouMean(k.Value, candidates)
	if hint == "" {
		hint = "expected one of " + quotedList(candidates)
	}
	r.c.hintf(r.pos(k), path, hint, "unknown key %q in %s", k.Value, what)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describe names the YAML kind of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!bool":
			return "the boolean " + n.Value
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

// str reads a string scalar.
func (r *yreader) str(n *yaml.Node, path, what string) (string, bool) {
	n = r.resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		r.c.errorf(r.pos(n), path, "expected %s (a string), found %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (r *yreader) boolean(n *yaml.Node, path string) (bool, bool) {
	n = r.resolve(n)
	if n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		r.c.errorf(r.pos(n), path, "expected true or false, found %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		r.c.errorf(r.pos(n), path, "expected true or false, found %s", describe(n))
		return false, false
	}
	return b, true
}

func (r *yreader) integer(n *yaml.Node, path string) (int64, bool) {
	n = r.resolve(n)
	if n == nil {
		return 0, false
	}
	var i int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		r.c.errorf(r.pos(n), path, "expected a whole number, found %s", describe(n))
		return 0, false
	}
	return i, true
}

// ident reads a Postgres identifier: trimmed, lower-cased, checked.
func (r *yreader) ident(n *yaml.Node, path, what string) (string, bool) {
	s, ok := r.str(n, path, what)
	if !ok {
		return "", false
	}
	id, err := normalizeIdent(s)
	if err != nil {
		r.c.errorf(r.pos(r.resolve(n)), path, "%s: %v", what, err)
		return "", false
	}
	return id, true
}

// key reads a key: one identifier or a non-empty list of distinct ones.
func (r *yreader) key(n *yaml.Node, path, what string) ([]string, bool) {
	n = r.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		id, ok := r.ident(n, path, what)
		if !ok {
			return nil, false
		}
		return []string{id}, true
	}
	if len(n.Content) == 0 {
		r.c.errorf(r.pos(n), path, "%s: the list of columns is empty", what)
		return nil, false
	}
	var cols []string
	ok := true
	for _, item := range n.Content {
		id, good := r.ident(item, path, what)
		switch {
		case !good:
			ok = false
		case contains(cols, id):
			r.c.errorf(r.pos(r.resolve(item)), path, "%s: column %q is listed twice", what, id)
			ok = false
		default:
			cols = append(cols, id)
		}
	}
	return cols, ok
}

// value converts a node to plain Go values: map[string]any, []any, string,
// int64, float64, bool or nil. Timestamps keep their text.
func (r *yreader) value(n *yaml.Node, path string) (any, bool) {
	n = r.resolve(n)
	if n == nil {
		return nil, false
	}
	defer r.leave()
	if !r.enter(n, path) {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps, ok := r.pairs(n, path, "a mapping")
		if !ok {
			return nil, false
		}
		m := make(map[string]any, len(ps))
		for _, p := range ps {
			v, ok := r.value(p.val, path+"."+p.key.Value)
			if !ok {
				return nil, false
			}
			m[p.key.Value] = v
		}
		return m, true
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, ok := r.value(item, fmt.Sprintf("%s[%d]", path, i))
			if !ok {
				return nil, false
			}
			list = append(list, v)
		}
		return list, true
	case yaml.ScalarNode:
		return r.scalar(n, path)
	}
	r.c.errorf(r.pos(n), path, "unsupported YAML value")
	return nil, false
}

func (r *yreader) scalar(n *yaml.Node, path string) (any, bool) {
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b, true
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return i, true
		}
		if n.Decode(new(float64)) == nil {
			r.c.errorf(r.pos(n), path, "%s does not fit in a 64-bit integer", n.Value)
			return nil, false
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				r.c.errorf(r.pos(n), path, "%s is not a number JSON can carry", n.Value)
				return nil, false
			}
			return f, true
		}
	case "!!str", "!!timestamp":
		return n.Value, true
	default:
		r.c.errorf(r.pos(n), path, "unsupported YAML tag %s", n.Tag)
		return nil, false
	}
	r.c.errorf(r.pos(n), path, "cannot read %s", describe(n))
	return nil, false
}

// list returns the items of a sequence node.
func (r *yreader) list(n *yaml.Node, path, what string) ([]*yaml.Node, bool) {
	n = r.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		r.c.errorf(r.pos(n), path, "expected %s (a list), found %s", what, describe(n))
		return nil, false
	}
	return n.Content, true
}

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
var fieldNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// normalizeIdent applies the identifier rules: trimmed, lower-cased,
// ^[a-z_][a-z0-9_]*$, at most 63 bytes.
func normalizeIdent(s string) (string, error) {
	id := strings.ToLower(strings.TrimSpace(s))
	switch {
	case id == "":
		return "", errors.New("the name is empty")
	case len(id) > 63:
		return "", fmt.Errorf("%q is longer than 63 bytes", id)
	case !identPattern.MatchString(id):
		return "", fmt.Errorf("%q is not a valid identifier (letters, digits and _, not starting with a digit)", s)
	}
	return id, nil
}

func checkFieldName(s string) error {
	switch {
	case s == "":
		return errors.New("the field name is empty")
	case len(s) > 63:
		return fmt.Errorf("field name %q is longer than 63 bytes", s)
	case !fieldNamePattern.MatchString(s):
		return fmt.Errorf("%q is not a valid field name (letters, digits and _, not starting with a digit)", s)
	}
	return nil
}
