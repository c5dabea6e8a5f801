package config

import (
	"errors"
	"fmt"
)

// Default sets *p to def when *p is the zero value: the house rule that a zero Config field
// stands for its default.
func Default[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Prefix names section as the parent of the key every error joined in err names: a
// component's "max_body_bytes: ..." becomes "normalizer.max_body_bytes: ..." once the
// component's Config is the normalizer key of a service's. Nil stays nil.
func Prefix(section string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := make([]error, 0, len(j.Unwrap()))
		for _, e := range j.Unwrap() {
			errs = append(errs, Prefix(section, e))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s.%w", section, err)
}
