package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Position is a place in a file; zero Line means unknown.
type Position struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

func (p Position) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Severity of a diagnostic.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one finding about the configuration: where (file, line and
// column when known, and the path of the key or field) and what.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Position
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func (d Diagnostic) String() string {
	var b strings.Builder
	if s := d.Position.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		b.WriteString(" (")
		b.WriteString(d.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Diagnostics is the list of findings of a load, errors and warnings.
type Diagnostics []Diagnostic

// Errors returns the error diagnostics only.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SeverityError) }

// Warnings returns the warning diagnostics only.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SeverityWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Err returns an *Error holding the error diagnostics, or nil when there are
// none.
func (ds Diagnostics) Err() error {
	if errs := ds.Errors(); len(errs) > 0 {
		return &Error{Diagnostics: errs}
	}
	return nil
}

// Error is a configuration that failed to load: every error found, not just
// the first.
type Error struct {
	Diagnostics Diagnostics
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// collector accumulates diagnostics for one file.
type collector struct {
	file  string
	diags *Diagnostics
}

func (c collector) errorf(pos Position, path, format string, args ...any) {
	c.add(SeverityError, pos, path, "", format, args...)
}

func (c collector) warnf(pos Position, path, format string, args ...any) {
	c.add(SeverityWarning, pos, path, "", format, args...)
}

func (c collector) hintf(pos Position, path, hint, format string, args ...any) {
	c.add(SeverityError, pos, path, hint, format, args...)
}

func (c collector) add(sev Severity, pos Position, path, hint, format string, args ...any) {
	if pos.File == "" {
		pos.File = c.file
	}
	*c.diags = append(*c.diags, Diagnostic{Severity: sev, Position: pos, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// didYouMean suggests the closest candidate to a misspelt word, or "" when
// nothing is close enough to be a plausible typo.
func didYouMean(word string, candidates []string) string {
	best, bestDist := "", 0
	lw := strings.ToLower(word)
	for _, c := range candidates {
		d := levenshtein.ComputeDistance(lw, strings.ToLower(c))
		if best == "" || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	// A third of the length, at least 2: catches transpositions and a dropped
	// letter without proposing unrelated words.
	limit := max(2, len(word)/3)
	if best == "" || bestDist > limit {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// quotedList renders candidates for an "expected one of" message.
func quotedList(words []string) string {
	s := append([]string(nil), words...)
	sort.Strings(s)
	for i, w := range s {
		s[i] = fmt.Sprintf("%q", w)
	}
	return strings.Join(s, ", ")
}
