package router

// Loading a configuration: the YAML decoder, the JUNCTION_* environment
// overlay and the command-line overrides, each value remembered with where
// it came from, so that every problem Validate finds names its file and
// line (or variable, or flag). The schema and Validate are in config.go.

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadConfig reads the YAML file at path over the defaults, applies the
// JUNCTION_* variables of environ and then the overrides (command-line
// flags, which come last), and validates the result. It reports every
// problem at once, in a *ConfigError (which wraps ErrConfig): unknown keys
// and variables (with the nearest known name), values of the wrong type,
// and whatever Validate refuses, each with its file and line or variable.
func LoadConfig(path string, environ []string, overrides ...func(*Config)) (Config, error) {
	c, ps := loadConfig(path, environ, overrides...)
	if err := ps.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// loadConfig is LoadConfig returning the configuration even when it has
// problems (wrongly typed values keep their defaults).
func loadConfig(path string, environ []string, overrides ...func(*Config)) (Config, problems) {
	c := DefaultConfig()
	l := &loader{origins: map[string]origin{}}
	if path != "" {
		if b, err := os.ReadFile(path); err != nil {
			l.ps = append(l.ps, Problem{Msg: err.Error(), order: orderFile})
		} else {
			l.decodeFile(b, path, &c)
		}
	}
	l.applyEnv(&c, environ)
	for _, o := range overrides {
		before := leafValues(&c)
		o(&c)
		for p, v := range leafValues(&c) {
			if !reflect.DeepEqual(v, before[p]) {
				l.setOrigin(p, origin{source: "command line", order: orderFlag})
			}
		}
	}
	var ce *ConfigError
	if err := c.Validate(); errors.As(err, &ce) {
		for _, p := range ce.Problems {
			o := l.locate(p.Path)
			p.Source, p.line, p.order = o.String(), o.line, o.order
			l.ps = append(l.ps, p)
		}
	}
	return c, l.ps
}

// The order of problems: the file's by line, then the environment's, the
// flags', and those of defaults.
const (
	orderFile = iota + 1
	orderEnv
	orderFlag
	orderDefault
)

// origin is where a value came from.
type origin struct {
	source string // file name, variable or "command line"
	line   int    // in the file; 0: none
	order  int
}

func (o origin) String() string {
	if o.line > 0 {
		return fmt.Sprintf("%s:%d", o.source, o.line)
	}
	return o.source
}

// loader holds what loading found: problems, and the origin of each key
// that did not keep its default.
type loader struct {
	ps      problems
	origins map[string]origin // by path: "http.listen", "realms[0]"
}

// setOrigin records that path, and everything under it, came from o.
func (l *loader) setOrigin(path string, o origin) {
	for p := range l.origins {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			delete(l.origins, p)
		}
	}
	l.origins[path] = o
}

// locate returns the origin of path or of its nearest ancestor that has one.
func (l *loader) locate(path string) origin {
	for p := path; p != ""; p = parentPath(p) {
		if o, ok := l.origins[p]; ok {
			return o
		}
	}
	return origin{order: orderDefault}
}

// parentPath drops the last key or index: a.b[0].c → a.b[0] → a.b → a → "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// decodeStrict decodes YAML into the struct at out, refusing unknown keys and
// values of the wrong type; the error is a *ConfigError naming each.
func decodeStrict(b []byte, out any) error {
	l := &loader{origins: map[string]origin{}}
	l.decodeFile(b, "", out)
	return l.ps.err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeFile decodes the YAML document b, read from name, into out.
func (l *loader) decodeFile(b []byte, name string, out any) {
	d := &decoder{l: l, source: name, order: orderFile}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg, line := err.Error(), 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = "not YAML: " + m[2]
		}
		d.problem(line, "", "%s", msg)
		return
	}
	if doc.Kind == 0 { // empty file
		return
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.problem(doc.Line, "", "want one YAML document")
		return
	}
	d.node(doc.Content[0], reflect.ValueOf(out).Elem(), "", doc.Content[0].Line)
}

// decoder decodes YAML nodes from one source into configuration values.
type decoder struct {
	l      *loader
	source string // file name, or the variable
	order  int
	// lineless: the source is a variable; YAML lines in its value mean nothing.
	lineless bool
}

func (d *decoder) problem(line int, path, format string, a ...any) {
	p := Problem{Source: d.source, Path: path, Msg: fmt.Sprintf(format, a...), order: d.order}
	if !d.lineless && line > 0 {
		p.line = line
		p.Source = fmt.Sprintf("%s:%d", d.source, line)
	}
	if p.Source == "" && path == "" {
		p.Source = "(top level)"
	}
	d.l.ps = append(d.l.ps, p)
}

func (d *decoder) record(path string, line int) {
	if path == "" {
		return
	}
	o := origin{source: d.source, order: d.order}
	if !d.lineless {
		o.line = line
	}
	d.l.origins[path] = o
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// node decodes n into v, whose key is at line; what is wrong is reported
// and leaves v as it was.
func (d *decoder) node(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	bad := func(format string, a ...any) { d.problem(line, path, format, a...) }
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			bad("%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			p.Elem().Set(v.Elem())
		}
		before := len(d.l.ps)
		d.node(n, p.Elem(), path, line)
		if len(d.l.ps) == before {
			v.Set(p)
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("want a mapping, got %s", describe(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := k.Value
			kpath := join(path, key)
			if first, dup := seen[key]; dup {
				d.problem(k.Line, kpath, "defined twice (first at line %d)", first)
				continue
			}
			seen[key] = k.Line
			field, ok := fieldByTag(v, key)
			if !ok {
				d.problem(k.Line, kpath, "unknown key%s", didYouMean(v.Type(), path, key))
				continue
			}
			d.record(kpath, k.Line)
			d.node(val, field, kpath, k.Line)
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			bad("want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			d.record(ipath, item.Line)
			d.node(item, s.Index(i), ipath, item.Line)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "!!null" {
			bad("want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			bad("want true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			bad("want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			bad("want an integer, got %s", describe(n))
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			bad("want an integer of %d bits, got %s", v.Type().Bits(), describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
			bad("want a number, got %s", describe(n))
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil || v.OverflowFloat(f) {
			bad("want a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		bad("cannot be set from YAML (%s)", v.Type())
	}
}

// didYouMean suggests, for an unknown key under path, the nearest key of
// that level, or else the place where the key is known.
func didYouMean(t reflect.Type, path, key string) string {
	var here []string
	for i := range t.NumField() {
		if tag := yamlTag(t.Field(i)); tag != "" {
			here = append(here, tag)
		}
	}
	if s := suggest(key, here); s != "" {
		return fmt.Sprintf(" (did you mean %s?)", s)
	}
	var elsewhere []string
	for _, p := range keyPaths(reflect.TypeFor[Config](), "") {
		if p == key || strings.HasSuffix(p, "."+key) {
			elsewhere = append(elsewhere, p)
		}
	}
	if len(elsewhere) > 0 {
		return fmt.Sprintf(" here (%s is known as %s)", key, strings.Join(elsewhere, ", "))
	}
	return fmt.Sprintf(" (known here: %s)", strings.Join(here, ", "))
}

// keyPaths lists the paths of every key of t, nested ones included; list
// items are written [].
func keyPaths(t reflect.Type, path string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlTag(f)
		if tag == "" {
			continue
		}
		p := join(path, tag)
		out = append(out, p)
		ft := f.Type
		suffix := ""
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			if ft.Kind() == reflect.Slice {
				suffix = "[]"
			}
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalerType) {
			out = append(out, keyPaths(ft, p+suffix)...)
		}
	}
	return out
}

func yamlTag(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "something else"
}

func fieldByTag(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if tag := yamlTag(t.Field(i)); tag != "" && tag == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// fieldByPath returns the field of c at a dotted path of struct keys.
func fieldByPath(c *Config, path string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	for _, key := range strings.Split(path, ".") {
		f, ok := fieldByTag(v, key)
		if !ok {
			return reflect.Value{}
		}
		v = f
	}
	return v
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// envPrefix starts every configuration variable.
const envPrefix = "JUNCTION_"

// envIgnored are the JUNCTION_ variables of Junction's own tests and
// benchmarks (prefixes): not configuration, and not errors.
var envIgnored = []string{"JUNCTION_TEST_", "JUNCTION_FLAKY_TESTS", "JUNCTION_CONNS_"}

// applyEnv overrides single keys from JUNCTION_* variables: JUNCTION_ and
// the key's path in upper case with "_" for ".", e.g. JUNCTION_HTTP_LISTEN
// for http.listen. A string variable's value is the string itself; any
// other is YAML for its key (lists in flow syntax), typed as in the file.
// A JUNCTION_ variable that names no key is an error, with the nearest
// name, unless envIgnored lists it.
func (l *loader) applyEnv(c *Config, environ []string) {
	leaves := map[string]leaf{} // JUNCTION_HTTP_LISTEN -> http.listen
	collectLeaves(reflect.TypeFor[Config](), "", leaves)
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.ContainsFunc(envIgnored, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		d := &decoder{l: l, source: name, order: orderEnv, lineless: true}
		lf, ok := leaves[name]
		if !ok {
			var names []string
			for n := range leaves {
				names = append(names, n)
			}
			slices.Sort(names)
			hint := ""
			if s := suggest(strings.TrimPrefix(name, envPrefix), trimAll(names, envPrefix)); s != "" {
				hint = fmt.Sprintf(" (did you mean %s%s?)", envPrefix, s)
			}
			d.problem(0, "", "unknown configuration variable%s", hint)
			continue
		}
		field := fieldByPath(c, lf.path)
		before := len(l.ps)
		if lf.isString {
			field.SetString(value)
		} else {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
				d.problem(0, lf.path, "not a YAML value: %v", strings.TrimPrefix(err.Error(), "yaml: "))
				continue
			}
			if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
				d.problem(0, lf.path, "empty: want a value (YAML; a list in flow syntax, e.g. [])")
				continue
			}
			tmp := reflect.New(field.Type()).Elem()
			tmp.Set(field)
			d.node(doc.Content[0], tmp, lf.path, 0)
			if len(l.ps) == before {
				field.Set(tmp)
			}
		}
		if len(l.ps) == before {
			l.setOrigin(lf.path, origin{source: name, order: orderEnv})
		}
	}
}

func trimAll(names []string, prefix string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, prefix)
	}
	return out
}

// leaf is one configuration key that a variable can set.
type leaf struct {
	path     string
	isString bool
}

// collectLeaves maps the variable of every key that is not a mapping (a
// scalar or a list) to the key.
func collectLeaves(t reflect.Type, path string, out map[string]leaf) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := yamlTag(f)
		if tag == "" {
			continue
		}
		p := join(path, tag)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(unmarshalerType) {
			collectLeaves(f.Type, p, out)
			continue
		}
		out[EnvName(p)] = leaf{path: p, isString: f.Type.Kind() == reflect.String}
	}
}

// EnvName is the variable that sets the key at path: JUNCTION_ and the
// path in upper case, "_" for ".".
func EnvName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// leafValues returns the value of every key a variable can set, by path.
func leafValues(c *Config) map[string]any {
	leaves := map[string]leaf{}
	collectLeaves(reflect.TypeFor[Config](), "", leaves)
	out := make(map[string]any, len(leaves))
	for _, lf := range leaves {
		out[lf.path] = fieldByPath(c, lf.path).Interface()
	}
	return out
}
