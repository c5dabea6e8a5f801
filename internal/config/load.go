package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load decodes the YAML file at path into cfg, a pointer to a struct whose fields carry yaml
// tags. Keys absent from the file leave their fields as they are (the defaults cfg holds).
// Decoding is strict: every unknown key, duplicate key and value that does not fit its
// field is reported, all at once, each naming the file, its line and the dotted key. An
// empty file (or one of comments only) changes nothing. Load does not validate the values
// beyond their types: that is the Config's Validate.
func Load(path string, cfg any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read config file %q: %w", path, err)
	}
	return Decode(path, b, cfg)
}

// Decode is Load of the YAML document data; name stands for the file in errors.
func Decode(name string, data []byte, cfg any) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("cannot decode config file %q into %T: want a pointer to a struct", name, cfg)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("cannot parse config file %q: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty document
	}
	d := decoder{file: name}
	d.value(doc.Content[0], v.Elem(), "")
	return errors.Join(d.errs...)
}

// KeyError is a problem with one key of a config file.
type KeyError struct {
	File string // the file, as given
	Line int    // 1-based line of the key (of the value for the whole document)
	Key  string // dotted path from the top, e.g. "normalizer.max_body_bytes"; empty: the document
	Err  error
}

func (e *KeyError) Error() string {
	key := e.Key
	if key == "" {
		key = "(the document)"
	}
	return fmt.Sprintf("config file %q, line %d: %s: %v", e.File, e.Line, key, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// ErrUnknownKey is what a KeyError wraps for a key that names no field.
var ErrUnknownKey = errors.New("unknown key")

type decoder struct {
	file string
	errs []error
}

func (d *decoder) fail(n *yaml.Node, key string, err error) {
	d.errs = append(d.errs, &KeyError{File: d.file, Line: n.Line, Key: key, Err: err})
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports whether values of t decode themselves.
func custom(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(unmarshalerType) || p.Implements(textUnmarshalerType)
}

// value decodes n into v (addressable), walking structs key by key so that every error names
// its key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := v.Type()
	switch {
	case custom(t):
	case t.Kind() == reflect.Struct:
		d.structValue(n, v, key)
		return
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !custom(t.Elem()):
		if n.Tag == "!!null" {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.structValue(n, v.Elem(), key)
		return
	case t.Kind() == reflect.Slice && hasStruct(t.Elem()) && n.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(s)
		return
	case t.Kind() == reflect.Map && hasStruct(t.Elem()) && n.Kind == yaml.MappingNode:
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := reflect.New(t.Key()).Elem()
			if err := n.Content[i].Decode(k.Addr().Interface()); err != nil {
				d.fail(n.Content[i], key, typeError(err))
				continue
			}
			e := reflect.New(t.Elem()).Elem()
			d.value(n.Content[i+1], e, join(key, n.Content[i].Value))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, key, typeError(err))
	}
}

// structValue decodes the mapping n into the struct v, key by key.
func (d *decoder) structValue(n *yaml.Node, v reflect.Value, key string) {
	if n.Tag == "!!null" {
		return // "key:" with nothing: keep the defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, fmt.Errorf("want a mapping of keys (%s), not %s", strings.Join(keys(v.Type()), ", "), describe(n)))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		name := kn.Value
		if kn.Kind == yaml.ScalarNode && kn.Tag == "!!merge" {
			d.fail(kn, key, errors.New("merge keys (<<) are not supported in config files"))
			continue
		}
		path := join(key, name)
		if seen[name] {
			d.fail(kn, path, errors.New("duplicate key"))
			continue
		}
		seen[name] = true
		f, ok := field(v, name)
		if !ok {
			d.fail(kn, path, fmt.Errorf("%w; the keys here are: %s", ErrUnknownKey, strings.Join(keys(v.Type()), ", ")))
			continue
		}
		// A scalar's errors point at its key's line; a mapping's at the lines inside it.
		d.value(vn, f, path)
	}
}

// field returns the field of struct v whose yaml name is name, looking into inline fields.
func field(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		n, inline, ok := yamlName(sf)
		if !ok {
			continue
		}
		if inline {
			if f, ok := field(v.Field(i), name); ok {
				return f, true
			}
			continue
		}
		if n == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// keys lists the yaml names of struct type t, sorted.
func keys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		sf := t.Field(i)
		n, inline, ok := yamlName(sf)
		switch {
		case !ok:
		case inline:
			out = append(out, keys(sf.Type)...)
		default:
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// yamlName returns the key of a struct field as yaml.v3 names it: its tag, or its lowercased
// name. ok is false for fields that are not decoded (unexported, or tagged "-").
func yamlName(sf reflect.StructField) (name string, inline, ok bool) {
	if !sf.IsExported() {
		return "", false, false
	}
	tag := sf.Tag.Get("yaml")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if slices.Contains(strings.Split(opts, ","), "inline") && sf.Type.Kind() == reflect.Struct {
		return "", true, true
	}
	if name == "" {
		name = strings.ToLower(sf.Name)
	}
	return name, false, true
}

func hasStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !custom(t)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// typeError turns yaml's "line N: cannot unmarshal !!str `x` into int" into its message
// without the line (the KeyError has it).
func typeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
			m = rest
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}
