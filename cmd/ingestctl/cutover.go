package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/migration"
)

// cutoverCommands are `ingestctl cutover status|advance|rollback`: the gated front end of
// tenant cutovers (`stage set` stays the ungated escape hatch).
func cutoverCommands() []*command {
	return []*command{
		{group: "cutover", name: "status", args: []string{"tenant"}, summary: "show a tenant's cutover stage, parity table and gate verdict",
			help: "Each row is one bucket (a minute by default): events ingest-v1 and ingest-v2 accepted, the events\n" +
				"expected on the v2 side (v1 accepted in shadow, v2 accepted in canary), those that landed in\n" +
				"ClickHouse, the mismatch, 5xx answers and p95 latency of ingest-v2. See docs/cutover.md.",
			setup: func(fs *flag.FlagSet) runFunc {
				n := fs.Int("buckets", 0, "rows of the parity table (default: the gate window plus the open bucket)")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					st, err := c.Cutover(ctx, args[0], *n)
					if err != nil {
						return a.explain(err, target{tenant: args[0]})
					}
					if a.output == "json" {
						return a.printJSON(st)
					}
					a.printCutoverStatus(st)
					return nil
				})
			}},
		{group: "cutover", name: "advance", args: []string{"tenant"}, summary: "move a tenant to its next stage if the parity gate passes (asks first unless --yes)",
			help: "Next stages: legacy -> shadow -> canary:10 -> v2 (--to picks another later one). From shadow and\n" +
				"canary the parity gate must pass; --force --reason \"...\" overrides it and is audited.",
			setup: func(fs *flag.FlagSet) runFunc {
				to := fs.String("to", "", "the stage to move to (default: the next one)")
				force := fs.Bool("force", false, "advance although the parity gate fails (needs --reason)")
				reason := fs.String("reason", "", "why; required with --force, recorded in the audit log")
				rev := revisionFlag(fs, "tenant")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					if *force && strings.TrimSpace(*reason) == "" {
						return usagef("--force needs --reason \"...\": say why the parity gate is overridden; it is audited")
					}
					id := args[0]
					st, dest, err := a.cutoverTarget(ctx, c, id, *to, true)
					if err != nil {
						return err
					}
					v := st.Parity.Verdict
					if st.Gated && !v.Pass && !*force {
						return gateRefused(id, v.Reasons)
					}
					a.printPlan(id, "Advance", st.Stage, dest)
					if st.Gated {
						if v.Pass {
							fmt.Fprintf(a.stderr, "  gate: %s\n", v.Summary)
						} else {
							fmt.Fprintf(a.stderr, "  gate: FAILS, forced (reason: %s):\n", *reason)
							for _, r := range v.Reasons {
								fmt.Fprintf(a.stderr, "    - %s\n", r)
							}
						}
					}
					if err := a.confirm(fmt.Sprintf("Advance tenant %s from %s to %s?", id, st.Stage, dest)); err != nil {
						return err
					}
					expected := revisionOr(rev, st.Revision)
					ch, err := c.AdvanceCutover(ctx, id, expected, api.CutoverAdvanceRequest{To: dest.String(), Force: *force, Reason: *reason})
					if err != nil {
						var ce *client.Error
						if errors.Is(err, client.ErrGateRefused) && errors.As(err, &ce) {
							return errors.New(ce.Message)
						}
						return a.explain(err, target{tenant: id, rev: expected})
					}
					return a.printChange(ch)
				})
			}},
		{group: "cutover", name: "rollback", args: []string{"tenant"}, summary: "move a tenant back to an earlier stage at once (asks first unless --yes)",
			help: "Without --to: the stage before the last change if it was earlier, else the one before in\n" +
				"legacy < shadow < canary < v2. Any earlier stage is allowed; no gate applies.",
			setup: func(fs *flag.FlagSet) runFunc {
				to := fs.String("to", "", "the stage to go back to (default: the previous one)")
				reason := fs.String("reason", "", "why (optional), recorded in the audit log")
				rev := revisionFlag(fs, "tenant")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					id := args[0]
					st, dest, err := a.cutoverTarget(ctx, c, id, *to, false)
					if err != nil {
						return err
					}
					a.printPlan(id, "Roll back", st.Stage, dest)
					if err := a.confirm(fmt.Sprintf("Roll tenant %s back from %s to %s?", id, st.Stage, dest)); err != nil {
						return err
					}
					expected := revisionOr(rev, st.Revision)
					ch, err := c.RollbackCutover(ctx, id, expected, api.CutoverRollbackRequest{To: dest.String(), Reason: *reason})
					if err != nil {
						return a.explain(err, target{tenant: id, rev: expected})
					}
					return a.printChange(ch)
				})
			}},
		{group: "cutover", name: "clear-shadow", args: []string{"tenant"}, summary: "delete a tenant's rows in the shadow tables (asks first unless --yes)",
			help: "Prints the tenant's rows in each shadow table (logs_shadow, metrics_shadow, spans_shadow and the\n" +
				"metrics roll-ups), asks, then deletes them (ALTER TABLE ... DELETE, one mutation per table) and\n" +
				"waits until ClickHouse finished. Other tenants' rows and the live tables are untouched. A tenant\n" +
				"in shadow is refused (its mirrored traffic keeps landing): roll it back first, or pass --force.\n" +
				"Needs clickhouse.addr in the control plane's config. Audited as cutover.clear-shadow.",
			setup: func(fs *flag.FlagSet) runFunc {
				force := fs.Bool("force", false, "clear a tenant in shadow too (its mirrored traffic keeps landing, so rows come back)")
				reason := fs.String("reason", "", "why (optional), recorded in the audit log")
				rev := revisionFlag(fs, "tenant")
				return withClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					id := args[0]
					sr, err := c.Shadow(ctx, id)
					if err != nil {
						return a.explainShadow(err, target{tenant: id})
					}
					inShadow := sr.Stage.Kind == registry.StageShadow
					if inShadow && !*force {
						return fmt.Errorf("tenant %s is in shadow: its mirrored traffic keeps landing in the shadow tables, so cleared rows would come back at once; "+
							"roll it back first (`ingestctl cutover rollback %s --to legacy`), or pass --force to clear what is there now", id, id)
					}
					a.printShadowPlan(sr, inShadow)
					if sr.TotalRows == 0 && !inShadow {
						fmt.Fprintf(a.stdout, "tenant %s has no rows in the shadow tables: nothing to delete\n", id)
						return nil
					}
					if err := a.confirm(fmt.Sprintf("Delete the %d shadow rows of tenant %s?", sr.TotalRows, id)); err != nil {
						return err
					}
					expected := revisionOr(rev, sr.Revision)
					res, err := c.ClearShadow(ctx, id, expected, api.ClearShadowRequest{Force: *force, Reason: *reason})
					if err != nil {
						return a.explainShadow(err, target{tenant: id, rev: expected})
					}
					return a.printClearShadow(res)
				})
			}},
	}
}

// explainShadow is explain for the shadow routes, whose refusals (in shadow, no ClickHouse,
// a ClickHouse error or timeout) carry the server's message as the thing to say.
func (a *app) explainShadow(err error, t target) error {
	var ce *client.Error
	if errors.As(err, &ce) && (errors.Is(err, client.ErrInShadow) || errors.Is(err, client.ErrNotConfigured) ||
		errors.Is(err, client.ErrTimeout) || ce.Code == api.CodeClickHouse) {
		return errors.New(ce.Message)
	}
	return a.explain(err, t)
}

// printShadowPlan says on stderr exactly what clear-shadow will delete.
func (a *app) printShadowPlan(sr api.ShadowRows, inShadow bool) {
	fmt.Fprintf(a.stderr, "Clear the shadow rows of tenant %s (stage %s) in ClickHouse database %s:\n", sr.Tenant, sr.Stage, sr.Database)
	tw := a.tableTo(a.stderr)
	fmt.Fprintln(tw, "  TABLE\tROWS")
	for _, t := range sr.Tables {
		fmt.Fprintf(tw, "  %s\t%d\n", t.Table, t.Rows)
	}
	fmt.Fprintf(tw, "  total\t%d\n", sr.TotalRows)
	_ = tw.Flush()
	fmt.Fprintln(a.stderr, "  other tenants' rows and the live tables are untouched")
	if inShadow {
		fmt.Fprintln(a.stderr, "  forced while in shadow: mirrored traffic keeps landing, rows will come back")
	}
}

func (a *app) printClearShadow(res api.ClearShadowResult) error {
	if a.output == "json" {
		return a.printJSON(res)
	}
	fmt.Fprintf(a.stdout, "tenant %s: shadow rows %d -> %d in %s (%d deletes, audit seq %d)\n",
		res.Tenant, res.RowsBefore, res.RowsAfter, res.Duration, res.Mutations, res.AuditSeq)
	after := map[string]uint64{}
	for _, t := range res.After {
		after[t.Table] = t.Rows
	}
	tw := a.table()
	fmt.Fprintln(tw, "  TABLE\tBEFORE\tAFTER")
	for _, t := range res.Before {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", t.Table, t.Rows, after[t.Table])
	}
	return tw.Flush()
}

// gateRefused is the error of an advance the parity gate refuses.
func gateRefused(id string, reasons []string) error {
	return fmt.Errorf("the parity gate refuses to advance tenant %s:\n  - %s\nsee `ingestctl cutover status %s`; wait for parity, roll back, or pass --force --reason \"...\"",
		id, strings.Join(reasons, "\n  - "), id)
}

// printPlan says on stderr exactly what a stage change will change.
func (a *app) printPlan(id, verb string, from, to registry.Stage) {
	fmt.Fprintf(a.stderr, "%s tenant %s: stage %s -> %s\n", verb, id, from, to)
	before, after := migration.Describe(from).Lines(), migration.Describe(to).Lines()
	for i := range after {
		if before[i] == after[i] {
			fmt.Fprintf(a.stderr, "  %s (unchanged)\n", after[i])
			continue
		}
		fmt.Fprintf(a.stderr, "  %s\n    (was %s)\n", after[i], strings.TrimSpace(before[i][strings.Index(before[i], ":")+1:]))
	}
}

func (a *app) printChange(ch api.CutoverChange) error {
	if a.output == "json" {
		return a.printJSON(ch)
	}
	fmt.Fprintf(a.stdout, "tenant %s: stage %s -> %s, revision %d\n", ch.Tenant.ID, ch.From, ch.To, ch.Tenant.Revision)
	for _, l := range ch.After.Lines() {
		fmt.Fprintf(a.stdout, "  %s\n", l)
	}
	if ch.Forced {
		fmt.Fprintf(a.stdout, "  forced past the parity gate; reason recorded in the audit log: %s\n", ch.Reason)
	}
	return nil
}

func (a *app) printCutoverStatus(st api.CutoverStatus) {
	w := a.stdout
	fmt.Fprintf(w, "tenant %s  stage %s", st.Tenant, st.Stage)
	if !st.StageChangedAt.IsZero() {
		fmt.Fprintf(w, " since %s", formatTime(st.StageChangedAt))
	}
	fmt.Fprintf(w, "  revision %d\n", st.Revision)
	for _, l := range st.Effect.Lines() {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if st.Gated {
		p := st.Parity
		fmt.Fprintf(w, "\nparity (expected = %s, landed = %s):\n", p.ExpectedIs, p.LandedIs)
		tw := a.table()
		fmt.Fprintln(tw, "BUCKET\tV1 ACCEPTED\tV2 ACCEPTED\tEXPECTED\tLANDED\tMISMATCH\tV2 5XX\tV2 P95\tGATE")
		for _, r := range p.Rows {
			mismatch, p95, gate := "-", "-", "counted"
			if r.MismatchPercent != nil {
				mismatch = fmt.Sprintf("%.2f %%", *r.MismatchPercent)
			}
			if r.V2P95Ms != nil {
				p95 = fmt.Sprintf("≤%g ms", *r.V2P95Ms)
			}
			switch {
			case !r.Complete:
				gate = "open"
			case !r.Observed:
				gate = "not counted: " + r.Note
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", r.Start.UTC().Format("15:04:05"), r.V1Accepted, r.V2Accepted,
				r.Expected, r.Landed, mismatch, r.V2ServerErrors, p95, gate)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	printVerdict(w, st)
}

func printVerdict(w io.Writer, st api.CutoverStatus) {
	v := st.Parity.Verdict
	next := "-"
	if st.Next != nil {
		next = st.Next.String()
	}
	switch {
	case v.Pass:
		fmt.Fprintf(w, "gate: PASS: %s\nnext: ingestctl cutover advance %s   (-> %s)\n", v.Summary, st.Tenant, next)
	default:
		fmt.Fprintf(w, "gate: FAIL\n")
		for _, r := range v.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
}

// cutoverTarget reads tenant id's cutover status and the stage an advance (forward) or a
// rollback goes to: to when given, else the status's default next or rollback stage; it
// refuses a stage on the wrong side of the current one.
func (a *app) cutoverTarget(ctx context.Context, c *client.Client, id, to string, forward bool) (api.CutoverStatus, registry.Stage, error) {
	st, err := c.Cutover(ctx, id, 1)
	if err != nil {
		return st, registry.Stage{}, a.explain(err, target{tenant: id})
	}
	dflt, verb, end, other := st.Rollback, "roll back to", "first", "advance"
	if forward {
		dflt, verb, end, other = st.Next, "advance to", "last", "rollback"
	}
	var dest registry.Stage
	switch {
	case to != "":
		if dest, err = registry.ParseStage(to); err != nil {
			return st, dest, usagef("--to: %v", err)
		}
	case dflt != nil:
		dest = *dflt
	default:
		return st, dest, fmt.Errorf("tenant %s is at %s, the %s stage: nothing to %s", id, st.Stage, end, verb)
	}
	if forward && !st.Stage.Before(dest) {
		return st, dest, fmt.Errorf("%s is not after tenant %s's stage %s; use `ingestctl cutover %s %s --to %s` to go back", dest, id, st.Stage, other, id, dest)
	}
	if !forward && !dest.Before(st.Stage) {
		return st, dest, fmt.Errorf("%s is not before tenant %s's stage %s; use `ingestctl cutover %s %s --to %s` to move forward", dest, id, st.Stage, other, id, dest)
	}
	return st, dest, nil
}
