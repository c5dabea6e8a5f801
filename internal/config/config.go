// Package config holds the one helper every component's Config uses to apply its defaults.
package config

// Default sets *p to def when *p is the zero value: the house rule that a zero Config field
// stands for its default.
func Default[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
