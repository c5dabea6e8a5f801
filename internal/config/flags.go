package config

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// FileFlag is the flag that names a service's config file.
const FileFlag = "config"

// Validator is a Config that checks itself; Parse calls Validate last.
type Validator interface {
	Validate() error
}

// Parse fills cfg, a pointer to a Config struct whose fields fs's flags are bound to, in the
// order defaults, file, flags: it defines the --config flag on fs, finds it in args, loads
// that file into cfg (see Load), and only then parses args with fs, so that the flags given
// override the file (flags not given leave the file's values). When cfg implements
// Validator, Parse calls Validate last; its error names the file. Errors of fs.Parse
// (flag.ErrHelp included) are returned as they are.
func Parse(fs *flag.FlagSet, args []string, cfg any) error {
	var file string
	fs.StringVar(&file, FileFlag, "", "YAML file of the settings, keys named as in the service's Config (snake_case); flags given override it")
	path, err := scanFlag(fs, args, FileFlag)
	if err != nil {
		return err
	}
	if path != "" {
		if err := Load(path, cfg); err != nil {
			return err
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			if path == "" {
				return fmt.Errorf("invalid configuration from the flags: %w", err)
			}
			return fmt.Errorf("invalid configuration from %q and the flags: %w", path, err)
		}
	}
	return nil
}

// scanFlag returns the value of flag name in args as flag.FlagSet.Parse would read it (the
// last one given wins), without setting any flag.
func scanFlag(fs *flag.FlagSet, args []string, name string) (string, error) {
	var val string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			break // flags end at the first argument that is not one, or at "--"
		}
		n := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		n, v, hasValue := strings.Cut(n, "=")
		if n == name {
			if !hasValue {
				if i+1 >= len(args) {
					return "", fmt.Errorf("flag needs an argument: -%s", name)
				}
				i++
				v = args[i]
			}
			val = v
			continue
		}
		if f := fs.Lookup(n); f != nil && !hasValue && !isBool(f) {
			i++ // skip the flag's value
		}
	}
	return val, nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// ListVar defines a flag of comma-separated values bound to p; empty items are dropped. A
// given flag replaces the list (the file's or the default).
func ListVar(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Var((*listValue)(p), name, usage)
}

type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(s string) error {
	*l = SplitList(s)
	return nil
}

// SplitList splits a comma-separated value, trimming spaces and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// MapVar defines a repeatable flag of name=value pairs bound to p. The first use on the
// command line replaces the map (the file's or the default); later uses add to it.
func MapVar(fs *flag.FlagSet, p *map[string]string, name, usage string) {
	fs.Var(&mapValue{m: p}, name, usage)
}

type mapValue struct {
	m   *map[string]string
	set bool
}

func (v *mapValue) String() string {
	if v == nil || v.m == nil || len(*v.m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(*v.m)) {
		parts = append(parts, k+"="+(*v.m)[k])
	}
	return strings.Join(parts, ",")
}

func (v *mapValue) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not name=value", s)
	}
	if !v.set || *v.m == nil {
		*v.m = map[string]string{}
		v.set = true
	}
	(*v.m)[k] = val
	return nil
}

// Integer is an integer type a flag can be bound to with IntVar.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// IntVar defines a flag bound to an integer field of any size (int16, int32, uint32...); a
// value out of the type's range is an error.
func IntVar[T Integer](fs *flag.FlagSet, p *T, name, usage string) {
	fs.Var(&intValue[T]{p}, name, usage)
}

type intValue[T Integer] struct{ p *T }

func (v *intValue[T]) String() string {
	if v == nil || v.p == nil {
		return "0"
	}
	return fmt.Sprint(*v.p)
}

func (v *intValue[T]) Set(s string) error {
	var zero T
	bits := int(unsafe.Sizeof(zero)) * 8
	if ^zero > 0 { // unsigned
		n, err := strconv.ParseUint(s, 0, bits)
		if err != nil {
			return err
		}
		*v.p = T(n)
		return nil
	}
	n, err := strconv.ParseInt(s, 0, bits)
	if err != nil {
		return err
	}
	*v.p = T(n)
	return nil
}
