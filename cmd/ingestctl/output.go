package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ingestdev/ingest/controlplane/api"
	"github.com/ingestdev/ingest/controlplane/registry"
)

func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the output: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// printOr prints v as JSON with -o json, and the formatted text on stdout otherwise.
func (a *app) printOr(v any, format string, args ...any) error {
	if a.output == "json" {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.stdout, format, args...)
	return nil
}

func (a *app) table() *tabwriter.Writer { return a.tableTo(a.stdout) }

// tableTo is table writing to w (stderr for what a command will do, before it asks).
func (a *app) tableTo(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func formatRate(v float64) string {
	if v == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func formatBurst(v float64) string {
	if v == 0 {
		return "1s of rate"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func stageOrDash(s registry.Stage) string {
	if s.IsZero() {
		return "-"
	}
	return s.String()
}

func keyStatus(k registry.APIKey, now time.Time) string {
	switch {
	case k.RevokedAt == nil:
		return "active"
	case k.ActiveAt(now):
		return "active until " + formatTime(*k.RevokedAt)
	}
	return "revoked " + formatTime(*k.RevokedAt)
}

// printList prints items: a JSON array (empty, not null, for none), or a table of header and
// one row per item.
func printList[T any](a *app, items []T, header string, row func(w io.Writer, item T)) error {
	if a.output == "json" {
		if items == nil {
			items = []T{}
		}
		return a.printJSON(items)
	}
	w := a.table()
	fmt.Fprintln(w, header)
	for _, it := range items {
		row(w, it)
	}
	return w.Flush()
}

// printTenants prints a list of tenants.
func (a *app) printTenants(ts []registry.Tenant) error {
	return printList(a, ts, "ID\tNAME\tSTAGE\tEVENTS/S\tBYTES/S\tACTIVE KEYS\tREVISION", func(w io.Writer, t registry.Tenant) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", t.ID, t.DisplayName, t.Stage, formatRate(t.Quotas.EventsPerSecond), formatRate(t.Quotas.BytesPerSecond), activeKeys(t), t.Revision)
	})
}

// printTenant prints one tenant: JSON, or its fields and a table of its keys.
func (a *app) printTenant(t registry.Tenant) error {
	if a.output == "json" {
		return a.printJSON(t)
	}
	w := a.table()
	stage := t.Stage.String()
	if !t.PreviousStage.IsZero() {
		stage += fmt.Sprintf(" (was %s until %s)", t.PreviousStage, formatTime(t.StageChangedAt))
	}
	q := t.Quotas
	fmt.Fprintf(w, "ID:\t%s\n", t.ID)
	fmt.Fprintf(w, "Name:\t%s\n", t.DisplayName)
	fmt.Fprintf(w, "Stage:\t%s\n", stage)
	fmt.Fprintf(w, "Events/s:\t%s (burst %s)\n", formatRate(q.EventsPerSecond), formatBurst(q.BurstEvents))
	fmt.Fprintf(w, "Bytes/s:\t%s (burst %s)\n", formatRate(q.BytesPerSecond), formatBurst(q.BurstBytes))
	fmt.Fprintf(w, "Revision:\t%d\n", t.Revision)
	fmt.Fprintf(w, "Created:\t%s\n", formatTime(t.CreatedAt))
	fmt.Fprintf(w, "Updated:\t%s\n", formatTime(t.UpdatedAt))
	if err := w.Flush(); err != nil {
		return err
	}
	if len(t.Keys) == 0 {
		fmt.Fprintf(a.stdout, "\nNo API keys. Create one with `ingestctl keys create %s`.\n", t.ID)
		return nil
	}
	fmt.Fprintln(a.stdout)
	return a.printKeys(t.Keys)
}

// printTenantShares is printTenant with the global view of the tenant's quota: the admitted
// rate over every live edge and each edge's share (JSON: the tenant's fields and
// "global_quota").
func (a *app) printTenantShares(t registry.Tenant, v *api.QuotaSharesView) error {
	if a.output == "json" {
		return a.printJSON(struct {
			registry.Tenant
			GlobalQuota *api.QuotaSharesView `json:"global_quota,omitempty"`
		}{t, v})
	}
	if err := a.printTenant(t); err != nil {
		return err
	}
	if v == nil || (t.Quotas.EventsPerSecond == 0 && t.Quotas.BytesPerSecond == 0) {
		return nil
	}
	fmt.Fprintf(a.stdout, "\nGlobal quota: %s events/s and %s bytes/s admitted over %d live edge(s)\n",
		formatRate(v.AdmittedEventsPerSec), formatRate(v.AdmittedBytesPerSec), v.LiveEdges)
	if len(v.Edges) == 0 {
		fmt.Fprintln(a.stdout, "No edge reports this tenant (edges report only with the report stream on; see docs/edge.md, \"Global quotas\").")
		return nil
	}
	w := a.table()
	fmt.Fprintln(w, "EDGE\tSHARE\tOFFERED EVENTS/S\tADMITTED EVENTS/S")
	for _, e := range v.Edges {
		fmt.Fprintf(w, "%s\t%.1f%%\t%.0f\t%.0f\n", e.Instance, 100*e.Share, e.OfferedEventsPerSec, e.AdmittedEventsPerSec)
	}
	return w.Flush()
}

func (a *app) printKeys(keys []registry.APIKey) error {
	w := a.table()
	now := time.Now()
	fmt.Fprintln(w, "KEY ID\tKEY STARTS WITH\tCREATED\tSTATUS")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\tik_%s_…\t%s\t%s\n", k.ID, k.Prefix, formatTime(k.CreatedAt), keyStatus(k, now))
	}
	return w.Flush()
}

func (a *app) printUpstreams(u registry.Upstreams) error {
	if a.output == "json" {
		return a.printJSON(u)
	}
	w := a.table()
	fmt.Fprintln(w, "CLUSTER\tHOST\tPORT")
	for _, c := range []struct {
		name string
		eps  []registry.Endpoint
	}{{"ingest-v1", u.V1}, {"ingest-v2", u.V2}} {
		if len(c.eps) == 0 {
			fmt.Fprintf(w, "%s\t(none)\t\n", c.name)
		}
		for _, e := range c.eps {
			fmt.Fprintf(w, "%s\t%s\t%d\n", c.name, e.Host, e.Port)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nrevision %d\n", u.Revision)
	return nil
}

// printAudit prints a list of audit log entries.
func (a *app) printAudit(es []registry.AuditEntry) error {
	return printList(a, es, "SEQ\tTIME\tACTOR\tACTION\tTENANT\tSUMMARY", func(w io.Writer, e registry.AuditEntry) {
		tenant := e.Tenant
		if tenant == "" {
			tenant = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, formatTime(e.Time), e.Actor, e.Action, tenant, strings.ReplaceAll(e.Summary, "\t", " "))
	})
}
