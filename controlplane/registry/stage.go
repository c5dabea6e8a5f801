package registry

import "fmt"

// MarshalText renders the stage in its text form ("legacy", "shadow", "canary:10", "v2"), so
// that JSON carries a stage as one string. The zero Stage renders as "".
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the text form with ParseStage; "" gives the zero Stage.
func (s *Stage) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = Stage{}
		return nil
	}
	st, err := ParseStage(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// IsZero reports whether s is the zero Stage (no stage set).
func (s Stage) IsZero() bool { return s == Stage{} }

// rank orders stages by how much traffic goes to v2: legacy 0, shadow 1, canary:p 1+p, v2 101.
// An unknown kind ranks -1.
func (s Stage) rank() int {
	switch s.Kind {
	case StageLegacy:
		return 0
	case StageShadow:
		return 1
	case StageCanary:
		return 1 + s.Percent
	case StageV2:
		return 101
	}
	return -1
}

// Before reports whether s is an earlier cutover stage than o, that is whether moving from o
// to s is a rollback: legacy < shadow < canary:1 < … < canary:99 < v2.
func (s Stage) Before(o Stage) bool { return s.rank() < o.rank() }

// validate checks a stage given by a caller.
func (s Stage) validate(field string) error {
	switch s.Kind {
	case StageLegacy, StageShadow, StageV2:
		if s.Percent != 0 {
			return &ValidationError{Field: field, Msg: fmt.Sprintf("percent %d is only allowed with canary", s.Percent)}
		}
		return nil
	case StageCanary:
		if s.Percent < 1 || s.Percent > 99 {
			return &ValidationError{Field: field, Msg: fmt.Sprintf("canary percent %d must be from 1 to 99", s.Percent)}
		}
		return nil
	}
	return &ValidationError{Field: field, Msg: fmt.Sprintf("stage %q must be legacy, shadow, canary:<1..99> or v2", s.Kind)}
}
