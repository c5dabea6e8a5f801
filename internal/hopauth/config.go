package hopauth

import (
	"errors"
	"fmt"
	"time"
)

// Config is the hop authentication of one service (the `hop_auth` block of the normalizer's
// and the sink writer's configs). Secure by default: a service that verifies refuses to
// start without KeyFile unless InsecureInternalHops is set.
type Config struct {
	// KeyFile is the key file (see ParseKeys): one key per line, hex or base64, at least 32
	// bytes; the first signs (the normalizer's batches to the sink writer), all verify. Read
	// once at startup: to rotate keys, change the file and restart. Required unless
	// InsecureInternalHops.
	KeyFile string `yaml:"key_file"`
	// MaxSkew is how far a signature's time may be from this host's clock, either way.
	// Default 5 min (DefaultMaxSkew).
	MaxSkew time.Duration `yaml:"max_skew"`
	// InsecureInternalHops turns verification off: anyone who can reach the port may claim
	// any tenant. Only for a closed test setup; logged as a warning at startup. Default false.
	InsecureInternalHops bool `yaml:"insecure_internal_hops"`
}

// Validate reports every problem at once, naming the key under prefix (e.g. "hop_auth").
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.KeyFile == "" && !c.InsecureInternalHops {
		errs = append(errs, fmt.Errorf("%s.key_file: required: the internal hops are authenticated with a shared key "+
			"(generate one with `openssl rand -hex 32` into a file given to the edge's control plane, the normalizers and the sink writers); "+
			"set %s.insecure_internal_hops: true only to accept unauthenticated internal requests on purpose", prefix, prefix))
	}
	if c.KeyFile != "" && c.InsecureInternalHops {
		errs = append(errs, fmt.Errorf("%s.insecure_internal_hops: true with %s.key_file set: choose one", prefix, prefix))
	}
	if c.MaxSkew < 0 {
		errs = append(errs, fmt.Errorf("%s.max_skew: %v must not be negative (0 means the default, %v)", prefix, c.MaxSkew, DefaultMaxSkew))
	}
	return errors.Join(errs...)
}

// Load reads the key file and returns the signing key (the first) and a Verifier of every
// key; both nil when InsecureInternalHops is set.
func (c Config) Load() (*Key, *Verifier, error) {
	if c.InsecureInternalHops {
		return nil, nil, nil
	}
	keys, err := LoadKeys(c.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	v, err := NewVerifier(keys, c.MaxSkew)
	if err != nil {
		return nil, nil, err
	}
	return keys[0], v, nil
}
