// Package config is the configuration plumbing every component and service shares: the
// Default helper that gives a zero Config field its default, and the loader of YAML config
// files with its flag-after-file order.
//
// Every service of `ingest` reads its Config from, in order: the defaults, then the YAML file
// named by --config (keys are the yaml tags of the Config fields, snake_case), then the flags.
// A flag therefore overrides the file, and the file overrides the defaults. Decoding is strict:
// an unknown key, a duplicate key or a value of the wrong type is an error naming the file,
// the line and the key (dotted from the top, e.g. normalizer.max_body_bytes).
//
//	cfg := normalizer.DefaultServiceConfig()
//	fs := flag.NewFlagSet("ingest normalizer", flag.ContinueOnError)
//	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "...") // flags bound to cfg's fields
//	if err := config.Parse(fs, args, &cfg); err != nil { ... } // file, then flags, then Validate
package config
