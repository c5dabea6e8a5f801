package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/tenant"
)

// runFunc runs a command with its positional arguments; its flags are already parsed.
type runFunc func(ctx context.Context, a *app, args []string) error

// command is one ingestctl command. setup registers its flags and returns the function that
// runs it with their values.
type command struct {
	group, name string   // "tenants", "create"; name is empty for commands without subcommands
	args        []string // required positional arguments
	optArgs     []string // optional positional arguments
	summary     string
	help        string
	hidden      bool
	setup       func(fs *flag.FlagSet) runFunc
}

func (c *command) path() string {
	if c.name == "" {
		return c.group
	}
	return c.group + " " + c.name
}

func (c *command) argsUsage() string {
	var parts []string
	for _, a := range c.args {
		parts = append(parts, "<"+a+">")
	}
	for _, a := range c.optArgs {
		parts = append(parts, "["+a+"]")
	}
	return strings.Join(parts, " ")
}

var groupAliases = map[string]string{"tenant": "tenants", "key": "keys", "quotas": "quota", "upstream": "upstreams"}

// findCommand finds the command named by the first one or two words of args.
func findCommand(args []string) (*command, []string, error) {
	group := args[0]
	if g, ok := groupAliases[group]; ok {
		group = g
	}
	var subs []string
	var bare *command // the group's command without a subcommand (`ingestctl audit`, `ingestctl replay --tenant …`)
	for _, c := range commands() {
		if c.group != group {
			continue
		}
		if c.name == "" {
			bare = c
			continue
		}
		if len(args) > 1 && c.name == args[1] {
			return c, args[2:], nil
		}
		subs = append(subs, c.name)
	}
	// A group with both takes flags or nothing after its name as the bare command.
	if bare != nil && (len(subs) == 0 || len(args) < 2 || strings.HasPrefix(args[1], "-")) {
		return bare, args[1:], nil
	}
	if len(subs) == 0 {
		return nil, nil, fmt.Errorf("unknown command %q", args[0])
	}
	if len(args) < 2 {
		return nil, nil, fmt.Errorf("%s needs a subcommand: %s", group, strings.Join(subs, ", "))
	}
	return nil, nil, fmt.Errorf("unknown subcommand %q of %s: want %s", args[1], group, strings.Join(subs, ", "))
}

// quotaFlags registers the quota flags and returns a function that applies the ones given to q.
func quotaFlags(fs *flag.FlagSet) func(q *registry.Quotas) (n int) {
	eps := fs.Float64("events-per-second", 0, "events per second (0: unlimited)")
	bps := fs.Float64("bytes-per-second", 0, "bytes per second (0: unlimited)")
	be := fs.Float64("burst-events", 0, "event bucket size (0: one second of the rate)")
	bb := fs.Float64("burst-bytes", 0, "byte bucket size (0: one second of the rate)")
	return func(q *registry.Quotas) (n int) {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "events-per-second":
				q.EventsPerSecond = *eps
			case "bytes-per-second":
				q.BytesPerSecond = *bps
			case "burst-events":
				q.BurstEvents = *be
			case "burst-bytes":
				q.BurstBytes = *bb
			default:
				return
			}
			n++
		})
		return n
	}
}

func revisionFlag(fs *flag.FlagSet, what string) *int64 {
	return fs.Int64("revision", 0, "the revision of the "+what+" you read; the change is refused if it changed since (default: read it now)")
}

// clientFunc runs a command with the API client for the global flags.
type clientFunc func(ctx context.Context, a *app, c *client.Client, args []string) error

// withClient returns a runFunc that gets the API client and runs f with it.
func withClient(f clientFunc) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		return f(ctx, a, c, args)
	}
}

// tenant reads tenant id, explaining an error.
func (a *app) tenant(ctx context.Context, c *client.Client, id string) (registry.Tenant, error) {
	t, err := c.GetTenant(ctx, id)
	if err != nil {
		return registry.Tenant{}, a.explain(err, target{tenant: id})
	}
	return t, nil
}

// showTenant is the setup of a command without flags that reads the tenant named by its first
// argument and prints it with show.
func showTenant(show func(a *app, t registry.Tenant) error) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc {
		return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
			t, err := a.tenant(ctx, c, args[0])
			if err != nil {
				return err
			}
			return show(a, t)
		})
	}
}

// revisionOr returns the revision given with --revision, or current when none was given.
func revisionOr(rev *int64, current int64) int64 {
	if *rev != 0 {
		return *rev
	}
	return current
}

func commands() []*command {
	return append(append(append(append(baseCommands(), cutoverCommands()...), replayCommands()...), deadLetterCommands()...), topCommands()...)
}

func baseCommands() []*command {
	return []*command{
		{group: "tenants", name: "create", args: []string{"id"}, summary: "create a tenant",
			help: "The id is " + tenant.Rule + ". New tenants start at stage legacy.",
			setup: func(fs *flag.FlagSet) runFunc {
				name := fs.String("name", "", "display name (default: the id)")
				stage := fs.String("stage", "", "initial stage: legacy, shadow, canary:<1..99> or v2 (default legacy)")
				quotas := quotaFlags(fs)
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					req := api.CreateTenantRequest{ID: args[0], DisplayName: *name, Stage: *stage}
					var q registry.Quotas
					if quotas(&q) > 0 {
						req.Quotas = &q
					}
					t, err := c.CreateTenant(ctx, req)
					if err != nil {
						return a.explain(err, target{tenant: args[0]})
					}
					return a.printTenant(t)
				})
			}},
		{group: "tenants", name: "list", summary: "list tenants",
			setup: func(fs *flag.FlagSet) runFunc {
				quiet := fs.Bool("q", false, "print only the ids")
				return withClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					l, err := c.ListTenants(ctx)
					if err != nil {
						return a.explain(err, target{})
					}
					if *quiet {
						for _, t := range l.Tenants {
							fmt.Fprintln(a.stdout, t.ID)
						}
						return nil
					}
					return a.printTenants(l.Tenants)
				})
			}},
		{group: "tenants", name: "get", args: []string{"id"}, summary: "show a tenant, its quotas (and how the edges share them), stage and keys",
			setup: func(*flag.FlagSet) runFunc {
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					t, err := a.tenant(ctx, c, args[0])
					if err != nil {
						return err
					}
					// The global view is best effort: a control plane without it still shows the tenant.
					var shares *api.QuotaSharesView
					if v, err := c.GetQuotaShares(ctx, t.ID); err == nil {
						shares = &v
					}
					return a.printTenantShares(t, shares)
				})
			}},
		{group: "tenants", name: "delete", args: []string{"id"}, summary: "delete a tenant and all its keys (asks first unless --yes)",
			setup: func(fs *flag.FlagSet) runFunc {
				rev := revisionFlag(fs, "tenant")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					id := args[0]
					expected := *rev
					if expected == 0 || !a.yes {
						t, err := a.tenant(ctx, c, id)
						if err != nil {
							return err
						}
						if expected == 0 {
							expected = t.Revision
						}
						if err := a.confirm(fmt.Sprintf("Delete tenant %s (stage %s, %d active keys)? Its keys stop working at once", id, t.Stage, activeKeys(t))); err != nil {
							return err
						}
					}
					if err := c.DeleteTenant(ctx, id, expected); err != nil {
						return a.explain(err, target{tenant: id, rev: expected})
					}
					return a.printOr(map[string]string{"deleted": id}, "deleted tenant %s\n", id)
				})
			}},
		{group: "keys", name: "create", args: []string{"tenant"}, summary: "create an API key; it is shown once",
			help: "The key is printed alone on stdout (notes go to stderr), so KEY=$(ingestctl keys create acme) works.",
			setup: func(fs *flag.FlagSet) runFunc {
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					k, err := c.CreateKey(ctx, args[0])
					if err != nil {
						return a.explain(err, target{tenant: args[0]})
					}
					if a.output == "json" {
						return a.printJSON(k)
					}
					fmt.Fprintf(a.stderr, "created key %s for tenant %s; store it now: it is not shown again\n", k.APIKey.ID, args[0])
					fmt.Fprintln(a.stdout, k.Key)
					return nil
				})
			}},
		{group: "keys", name: "rotate", args: []string{"tenant", "key-id"}, summary: "replace a key with a new one; the old one is revoked now or after --grace",
			setup: func(fs *flag.FlagSet) runFunc {
				grace := fs.Duration("grace", 0, "how long the old key keeps working, e.g. 24h (at most 720h; default: revoke it now)")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					k, err := c.RotateKey(ctx, args[0], args[1], *grace)
					if err != nil {
						return a.explain(err, target{tenant: args[0], key: args[1]})
					}
					if a.output == "json" {
						return a.printJSON(k)
					}
					until := "now"
					if k.Replaced != nil && k.Replaced.RevokedAt != nil && *grace > 0 {
						until = "at " + formatTime(*k.Replaced.RevokedAt)
					}
					fmt.Fprintf(a.stderr, "rotated key %s of tenant %s to %s; the old key stops working %s; store the new key now: it is not shown again\n", args[1], args[0], k.APIKey.ID, until)
					fmt.Fprintln(a.stdout, k.Key)
					return nil
				})
			}},
		{group: "keys", name: "revoke", args: []string{"tenant", "key-id"}, summary: "revoke a key now",
			setup: func(fs *flag.FlagSet) runFunc {
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					t, err := c.RevokeKey(ctx, args[0], args[1])
					if err != nil {
						return a.explain(err, target{tenant: args[0], key: args[1]})
					}
					return a.printOr(t, "revoked key %s of tenant %s\n", args[1], args[0])
				})
			}},
		{group: "keys", name: "list", args: []string{"tenant"}, summary: "list a tenant's keys (prefixes only)",
			setup: showTenant(func(a *app, t registry.Tenant) error {
				if a.output == "json" {
					return a.printJSON(t.Keys)
				}
				return a.printKeys(t.Keys)
			})},
		{group: "quota", name: "set", args: []string{"tenant"}, summary: "set a tenant's quotas (flags not given keep their value)",
			setup: func(fs *flag.FlagSet) runFunc {
				quotas := quotaFlags(fs)
				rev := revisionFlag(fs, "tenant")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					id := args[0]
					t, err := a.tenant(ctx, c, id)
					if err != nil {
						return err
					}
					q := t.Quotas
					if quotas(&q) == 0 {
						return usagef("say which quota to set: --events-per-second, --bytes-per-second, --burst-events or --burst-bytes")
					}
					expected := revisionOr(rev, t.Revision)
					t, err = c.SetQuotas(ctx, id, expected, q)
					if err != nil {
						return a.explain(err, target{tenant: id, rev: expected})
					}
					return a.printTenant(t)
				})
			}},
		{group: "stage", name: "set", args: []string{"tenant", "stage"}, summary: "move a tenant to a cutover stage (asks before v2 and before a rollback unless --yes)",
			help: "Stages in order: legacy, shadow, canary:<1..99>, v2. Setting an earlier stage is a rollback.",
			setup: func(fs *flag.FlagSet) runFunc {
				rev := revisionFlag(fs, "tenant")
				return func(ctx context.Context, a *app, args []string) error {
					id := args[0]
					to, err := registry.ParseStage(args[1])
					if err != nil {
						return usagef("%v", err)
					}
					c, err := a.client()
					if err != nil {
						return err
					}
					t, err := a.tenant(ctx, c, id)
					if err != nil {
						return err
					}
					expected := revisionOr(rev, t.Revision)
					switch {
					case to == t.Stage:
					case to.Before(t.Stage):
						if err := a.confirm(fmt.Sprintf("Roll tenant %s back from %s to %s?", id, t.Stage, to)); err != nil {
							return err
						}
					case to.Kind == registry.StageV2:
						if err := a.confirm(fmt.Sprintf("Move tenant %s from %s to v2? All its traffic goes to ingest-v2", id, t.Stage)); err != nil {
							return err
						}
					}
					t, err = c.SetStage(ctx, id, expected, to.String())
					if err != nil {
						return a.explain(err, target{tenant: id, rev: expected})
					}
					return a.printOr(t, "tenant %s is at stage %s (was %s), revision %d\n", id, t.Stage, stageOrDash(t.PreviousStage), t.Revision)
				}
			}},
		{group: "stage", name: "get", args: []string{"tenant"}, summary: "show a tenant's stage",
			setup: showTenant(func(a *app, t registry.Tenant) error {
				return a.printOr(map[string]any{"tenant": t.ID, "stage": t.Stage, "previous_stage": t.PreviousStage, "stage_changed_at": t.StageChangedAt, "revision": t.Revision},
					"%s\n", t.Stage)
			})},
		{group: "upstreams", name: "get", summary: "show the endpoints of ingest-v1 and ingest-v2",
			setup: func(fs *flag.FlagSet) runFunc {
				return withClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					u, err := c.GetUpstreams(ctx)
					if err != nil {
						return a.explain(err, target{upstreams: true})
					}
					return a.printUpstreams(u)
				})
			}},
		{group: "upstreams", name: "set", summary: "set the endpoints of ingest-v1 and/or ingest-v2 (a list not given keeps its value)",
			help: "Endpoints are host:port, comma separated: --v2 normalizer-0:4318,normalizer-1:4318. An empty list (--v1 '') removes every endpoint.",
			setup: func(fs *flag.FlagSet) runFunc {
				v1 := fs.String("v1", "", "endpoints of ingest-v1 (the legacy pipeline), host:port,...")
				v2 := fs.String("v2", "", "endpoints of ingest-v2 (the normalizers), host:port,...")
				rev := revisionFlag(fs, "upstreams")
				return func(ctx context.Context, a *app, _ []string) error {
					set := map[string]bool{}
					fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
					if !set["v1"] && !set["v2"] {
						return usagef("say which endpoints to set: --v1 and/or --v2")
					}
					c, err := a.client()
					if err != nil {
						return err
					}
					u, err := c.GetUpstreams(ctx)
					if err != nil {
						return a.explain(err, target{upstreams: true})
					}
					if set["v1"] {
						if u.V1, err = parseEndpoints("--v1", *v1); err != nil {
							return err
						}
					}
					if set["v2"] {
						if u.V2, err = parseEndpoints("--v2", *v2); err != nil {
							return err
						}
					}
					expected := revisionOr(rev, u.Revision)
					u, err = c.SetUpstreams(ctx, expected, u.V1, u.V2)
					if err != nil {
						return a.explain(err, target{upstreams: true, rev: expected})
					}
					return a.printUpstreams(u)
				}
			}},
		{group: "audit", summary: "show the audit log (newest entries, or those after --since)",
			setup: func(fs *flag.FlagSet) runFunc {
				tenant := fs.String("tenant", "", "only this tenant's entries")
				limit := fs.Int("limit", 50, "at most this many entries (1..1000)")
				since := fs.Uint64("since", 0, "only entries after this seq, oldest first (default: the newest entries)")
				return withClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					q := client.AuditQuery{Tenant: *tenant, Limit: *limit}
					fs.Visit(func(f *flag.Flag) {
						if f.Name == "since" {
							q.Since = since
						}
					})
					l, err := c.Audit(ctx, q)
					if err != nil {
						return a.explain(err, target{tenant: *tenant})
					}
					return a.printAudit(l.Entries)
				})
			}},
		{group: "completion", args: []string{"bash|zsh"}, summary: "print a shell completion script",
			help: "bash: source <(ingestctl completion bash)\nzsh:  source <(ingestctl completion zsh)",
			setup: func(fs *flag.FlagSet) runFunc {
				return func(_ context.Context, a *app, args []string) error {
					switch args[0] {
					case "bash":
						fmt.Fprint(a.stdout, bashCompletion())
					case "zsh":
						fmt.Fprint(a.stdout, zshCompletion())
					default:
						return usagef("unknown shell %q: want bash or zsh", args[0])
					}
					return nil
				}
			}},
	}
}

func activeKeys(t registry.Tenant) int {
	n := 0
	now := time.Now()
	for _, k := range t.Keys {
		if k.ActiveAt(now) {
			n++
		}
	}
	return n
}

// parseEndpoints parses "host:port,host:port"; "" is the empty list.
func parseEndpoints(flagName, s string) ([]registry.Endpoint, error) {
	out := []registry.Endpoint{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		host, port, err := net.SplitHostPort(part)
		if err != nil {
			return nil, usagef("%s: %q is not host:port", flagName, part)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, usagef("%s: port %q of %q must be from 1 to 65535", flagName, port, part)
		}
		out = append(out, registry.Endpoint{Host: host, Port: uint32(p)})
	}
	return out, nil
}

// target is what a command was working on, for error messages.
type target struct {
	tenant    string
	key       string
	upstreams bool
	rev       int64 // the revision the command sent
}

// flagOfField maps API fields to the ingestctl flags that set them.
var flagOfField = map[string]string{
	"quotas.events_per_second": "--events-per-second", "events_per_second": "--events-per-second",
	"quotas.bytes_per_second": "--bytes-per-second", "bytes_per_second": "--bytes-per-second",
	"quotas.burst_events": "--burst-events", "burst_events": "--burst-events",
	"quotas.burst_bytes": "--burst-bytes", "burst_bytes": "--burst-bytes",
	"display_name": "--name", "grace": "--grace", "limit": "--limit", "since": "--since", "tenant": "--tenant",
}

// explain turns an API error into a message that says what to do.
func (a *app) explain(err error, t target) error {
	var ce *client.Error
	errors.As(err, &ce)
	switch {
	case errors.Is(err, client.ErrUnreachable):
		return fmt.Errorf("cannot reach the control plane at %s: is `ingest controlplane` running? set --server or INGEST_SERVER (%v)", a.server, errors.Unwrap(err))
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("the control plane at %s refused the admin token: set --token or INGEST_TOKEN to the token it was started with (its --admin-token-file or INGEST_ADMIN_TOKEN)", a.server)
	case errors.Is(err, client.ErrConflict):
		if t.upstreams {
			return fmt.Errorf("the upstreams changed since you read them (revision %d, now %d); re-run `ingestctl upstreams get` and retry", t.rev, ce.CurrentRevision)
		}
		return fmt.Errorf("tenant %s changed since you read it (revision %d, now %d); re-run `ingestctl tenants get %s` and retry", t.tenant, t.rev, ce.CurrentRevision, t.tenant)
	case errors.Is(err, client.ErrAlreadyExists):
		return fmt.Errorf("tenant %s already exists; see it with `ingestctl tenants get %s`", t.tenant, t.tenant)
	case errors.Is(err, client.ErrNotFound):
		if t.key != "" && strings.Contains(ce.Message, "key") {
			return fmt.Errorf("tenant %s has no key %s; list its keys with `ingestctl keys list %s`", t.tenant, t.key, t.tenant)
		}
		if t.tenant != "" {
			return fmt.Errorf("tenant %s does not exist; list tenants with `ingestctl tenants list`", t.tenant)
		}
		return fmt.Errorf("not found: %s (is --server the control plane's admin API?)", ce.Message)
	case errors.Is(err, client.ErrInvalid):
		msg := ce.Message
		if f, ok := flagOfField[ce.Field]; ok {
			msg += " (flag " + f + ")"
		}
		return fmt.Errorf("invalid request: %s", msg)
	case errors.Is(err, client.ErrServer):
		return fmt.Errorf("the control plane failed (%d %s): %s; see its log", ce.Status, ce.Code, ce.Message)
	case ce != nil:
		return fmt.Errorf("the control plane answered %d %s: %s", ce.Status, ce.Code, ce.Message)
	}
	return err
}
