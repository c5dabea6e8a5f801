package tenant

import (
	"errors"
	"fmt"
	"strings"
)

// ID is a tenant id. Its zero value is not a valid id.
type ID string

// MaxLen is the length of the longest tenant id, in bytes.
const MaxLen = 63

// Rule says what a valid tenant id is, for error messages and help texts.
const Rule = "1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit"

// Pattern is the rule as a regular expression, for documentation and configuration (Valid is
// the check: it does not use it).
const Pattern = `^[a-z0-9][a-z0-9-]{0,62}$`

// ErrInvalid is wrapped by the error of Validate; test with errors.Is.
var ErrInvalid = errors.New("invalid tenant id")

// Valid reports whether id is a valid tenant id (see Rule). It does not allocate.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Validate returns nil for a valid tenant id, and otherwise an error wrapping ErrInvalid that
// quotes id (at most 70 characters of it) and says the rule.
func Validate(id string) error {
	if Valid(id) {
		return nil
	}
	return &invalidError{id: id}
}

// invalidError is Validate's error; it formats only when asked, so a caller that just tests it
// pays one small allocation.
type invalidError struct{ id string }

func (e *invalidError) Error() string {
	return fmt.Sprintf("tenant id %.70q must be %s", e.id, Rule)
}

func (e *invalidError) Unwrap() error { return ErrInvalid }

// Valid reports whether id is a valid tenant id.
func (id ID) Valid() bool { return Valid(string(id)) }

// Validate is Validate(string(id)).
func (id ID) Validate() error { return Validate(string(id)) }

// Placeholder is what a topic pattern replaces with the tenant id.
const Placeholder = "{tenant}"

// DefaultTopicPattern is the topic pattern of an empty one: "ingest.{tenant}".
const DefaultTopicPattern = "ingest." + Placeholder

// Topic returns the Kafka topic of tenant id under pattern: pattern with its first {tenant}
// replaced by id; the default pattern, "ingest.{tenant}", when pattern is empty. It does not
// check id or pattern.
func Topic(pattern string, id string) string {
	if pattern == "" {
		pattern = DefaultTopicPattern
	}
	return strings.Replace(pattern, Placeholder, id, 1)
}

// ShadowTopicSuffix ends the name of a tenant's shadow topic: its live topic's name (Topic)
// followed by this suffix. The shadow topic holds the mirrored traffic of a tenant in the shadow
// stage of a cutover, which the loader writes to the shadow tables only. No live topic ends with
// it: tenant ids hold no '.', and the sink writer refuses topic patterns that end with it.
const ShadowTopicSuffix = ".shadow"

// ShadowTopic returns the name of tenant id's shadow topic under pattern (see Topic).
func ShadowTopic(pattern, id string) string { return Topic(pattern, id) + ShadowTopicSuffix }

// IsShadowTopic reports whether topic is a tenant's shadow topic.
func IsShadowTopic(topic string) bool { return strings.HasSuffix(topic, ShadowTopicSuffix) }
