package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}

// WriteTable writes the report as an aligned table, one row per tenant and a total row.
func WriteTable(w io.Writer, rep *Report) error {
	if _, err := fmt.Fprintf(w, "target %s, %.1fs\n", rep.Target, rep.Duration); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "tenant\tprofile\trequests\tevents\tevents/s\t2xx\t429\t503\tother\terrors\tp50 ms\tp95 ms\tp99 ms\t"
	if rep.E2E {
		header += "markers\tvisible\tlost\te2e p50 ms\te2e p95 ms\te2e p99 ms\t"
	}
	fmt.Fprintln(tw, header)
	row := func(r TenantReport) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t",
			r.Tenant, r.Profile, r.Requests, r.Events, r.EventsPerSec, r.Accepted, r.Status429, r.Status503,
			r.OtherStatus, r.TransportErrors, r.Latency.P50, r.Latency.P95, r.Latency.P99)
		if rep.E2E {
			m := r.Markers
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t", m.Sent-m.NotTracked, m.Visible, m.NotVisible, m.E2E.P50, m.E2E.P95, m.E2E.P99)
		}
		fmt.Fprintln(tw)
	}
	for _, r := range rep.Tenants {
		row(r)
	}
	row(rep.Total)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	if rep.PollErrors > 0 {
		fmt.Fprintf(w, "marker lookups failed %d times; last: %s\n", rep.PollErrors, rep.LastPollError)
	}
	return nil
}
