package apicheck

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Check walks m and everything inside it, unpacking every Any with the protos linked into this
// binary (the Envoy 1.33-era API), and returns one error per problem: unknown fields (a field
// Envoy 1.33 would ignore), an Any of a type it does not know (an extension it does not have),
// an enum value it does not define, and validation failures under its rules. path names m.
func Check(path string, m proto.Message) []error {
	c := &checker{}
	c.message(path, m)
	return c.errs
}

type checker struct{ errs []error }

func (c *checker) add(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *checker) message(path string, m proto.Message) {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			c.add("%s: invalid for Envoy 1.33: %v", path, err)
		}
	}
	c.walk(path, m.ProtoReflect())
}

func (c *checker) walk(path string, m protoreflect.Message) {
	if u := m.GetUnknown(); len(u) > 0 {
		c.add("%s: fields unknown to Envoy 1.33 (it would ignore them): %s", path, describeUnknown(u))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				c.value(fmt.Sprintf("%s[%d]", p, i), fd, l.Get(i))
			}
		case fd.IsMap():
			var keys []protoreflect.MapKey
			v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			for _, k := range keys {
				c.value(fmt.Sprintf("%s[%q]", p, k.String()), fd.MapValue(), v.Map().Get(k))
			}
		default:
			c.value(p, fd, v)
		}
		return true
	})
}

func (c *checker) value(path string, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if fd.Enum().Values().ByNumber(v.Enum()) == nil {
			c.add("%s: enum value %d is not defined in Envoy 1.33's %s", path, v.Enum(), fd.Enum().FullName())
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		c.child(path, v.Message())
	}
}

func (c *checker) child(path string, m protoreflect.Message) {
	if m.Descriptor().FullName() != "google.protobuf.Any" {
		c.walk(path, m)
		return
	}
	a := &anypb.Any{}
	b, err := proto.Marshal(m.Interface())
	if err == nil {
		err = proto.Unmarshal(b, a)
	}
	if err != nil {
		c.add("%s: cannot read Any: %v", path, err)
		return
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		c.add("%s: type %q is unknown to Envoy 1.33's API (or not linked into apicheck): %v", path, a.GetTypeUrl(), err)
		return
	}
	c.message(fmt.Sprintf("%s(%s)", path, inner.ProtoReflect().Descriptor().FullName()), inner)
}

// describeUnknown lists the field numbers in raw unknown bytes.
func describeUnknown(b []byte) string {
	var nums []string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Sprintf("%d undecodable bytes", len(b))
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Sprintf("field %d with an undecodable value", num)
		}
		b = b[m:]
		nums = append(nums, fmt.Sprintf("field %d", num))
	}
	return fmt.Sprint(nums)
}
