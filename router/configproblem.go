package router

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid configuration")

// A Problem is one thing wrong with a configuration: a key that is unknown,
// of the wrong type or with a bad value.
type Problem struct {
	// Source is where the value came from: "FILE:LINE" (or "FILE" when no
	// line applies), a JUNCTION_* variable, "command line", or "" for a
	// default or a Config built in code.
	Source string
	// Path is the key, e.g. "limits.max_message_size" or
	// "realms[0].roles[1].permissions[0].allow[2]"; "" for a problem with
	// no key (an unknown variable, a file that is not YAML).
	Path string
	// Msg says what is wrong and, where it can, what is wanted.
	Msg string

	line  int // Source's line, for sorting; 0: none
	order int // the rank of Source's kind: file, environment, flags
}

// String is "SOURCE: PATH: MSG", leaving out what is empty.
func (p Problem) String() string {
	var parts []string
	for _, s := range []string{p.Source, p.Path, p.Msg} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// ConfigError lists every problem of a configuration. It wraps ErrConfig.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	switch len(e.Problems) {
	case 0:
		return ErrConfig.Error()
	case 1:
		return ErrConfig.Error() + ": " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", ErrConfig, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n" + p.String())
	}
	return b.String()
}

// Unwrap lets errors.Is(err, ErrConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Lines returns one line per problem, as `junction config check` prints them.
func (e *ConfigError) Lines() []string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return lines
}

// problems collects Problems as a check goes.
type problems []Problem

func (ps *problems) add(path, format string, a ...any) {
	*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf(format, a...)})
}

// err returns nil, or a *ConfigError with the problems in the order of
// their sources: the file by line, then the environment, then flags.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone([]Problem(ps))
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.line, b.line))
	})
	return &ConfigError{Problems: out}
}

// suggest returns the candidate nearest to s by edit distance (Damerau:
// insertions, deletions, substitutions and swaps of neighbours), if it is
// near enough to be a typo of it; else "".
func suggest(s string, candidates []string) string {
	s = strings.ToLower(s)
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(s, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1 // short keys: one edit; longer ones: about one in three
	if n := len(s); n > 4 {
		limit = max(2, n/3)
	}
	if bestD < 0 || bestD > limit || bestD >= len(s) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
