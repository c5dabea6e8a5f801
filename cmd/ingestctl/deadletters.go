package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/migration/deadletter"
)

// deadLetterCommands are `ingestctl deadletters list|redrive`: the records the loaders could not
// load, with why, and their re-drive once the cause is fixed (docs/sinkwriter.md, "Dead letters").
func deadLetterCommands() []*command {
	return []*command{
		{group: "deadletters", name: "list", summary: "list the loaders' dead letters with why each was refused and where it was read",
			setup: func(fs *flag.FlagSet) runFunc {
				part := fs.Int("partition", 0, "the dead-letter topic's partition")
				from := fs.Int64("from", 0, "the first offset (default: the partition's start)")
				limit := fs.Int("limit", 100, "at most this many (1..1000)")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					p, err := c.ListDeadLetters(ctx, int32(*part), *from, *limit)
					if err != nil {
						return a.explainReplay(err)
					}
					if a.output == "json" {
						return a.printJSON(p)
					}
					if err := printList(a, p.Letters, "OFFSET\tTIME\tTENANT\tSIGNAL\tREASON\tSOURCE\tERROR", func(w io.Writer, l deadletter.Letter) {
						errText := l.Error
						if len(errText) > 80 {
							errText = errText[:77] + "..."
						}
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s/%d@%d\t%s\n", l.Offset, formatTime(l.Time), orDash(l.Tenant), orDash(l.Signal),
							l.Reason, l.SourceTopic, l.SourcePartition, l.SourceOffset, errText)
					}); err != nil {
						return err
					}
					switch {
					case len(p.Letters) == 0:
						fmt.Fprintf(a.stdout, "\nNo dead letters in %s/%d from offset %d (end %d).\n", p.Topic, p.Partition, p.From, p.End)
					case p.Next < p.End:
						fmt.Fprintf(a.stdout, "\n%d of %s/%d shown; more: ingestctl deadletters list --partition %d --from %d\n", len(p.Letters), p.Topic, p.Partition, p.Partition, p.Next)
					}
					return nil
				})
			}},
		{group: "deadletters", name: "redrive", summary: "produce dead letters again to their source topics, once what refused them is fixed",
			help: "--offsets names the letters (comma-separated offsets, or a range first-last) of --partition. Each is\n" +
				"written again, key and value unchanged, to the topic it was read from: the loader loads it (or\n" +
				"dead-letters it again). A record loaded twice is one row on the documented query path (FINAL).",
			setup: func(fs *flag.FlagSet) runFunc {
				part := fs.Int("partition", 0, "the dead-letter topic's partition")
				offsets := fs.String("offsets", "", "the letters' offsets: 12,15,20-29")
				reason := fs.String("reason", "", "why (what was fixed); required, recorded in the audit log")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					offs, err := parseOffsets(*offsets)
					if err != nil {
						return usagef("%v", err)
					}
					if strings.TrimSpace(*reason) == "" {
						return usagef("--reason is required: say what was fixed, for the audit log")
					}
					if err := a.confirm(fmt.Sprintf("re-drive %d dead letter(s) of partition %d to their source topics?", len(offs), *part)); err != nil {
						return err
					}
					res, err := c.RedriveDeadLetters(ctx, int32(*part), offs, *reason)
					if err != nil {
						return a.explainReplay(err)
					}
					if a.output == "json" {
						return a.printJSON(res)
					}
					fmt.Fprintf(a.stdout, "re-drove %d dead letter(s) of %s/%d\n", len(res.Redriven), res.Topic, res.Partition)
					for _, l := range res.Redriven {
						fmt.Fprintf(a.stdout, "  %d -> %s (tenant %s)\n", l.Offset, l.SourceTopic, orDash(l.Tenant))
					}
					for _, s := range res.Skipped {
						fmt.Fprintf(a.stdout, "  skipped %d: %s\n", s.Offset, s.Why)
					}
					return nil
				})
			}},
	}
}

// parseOffsets reads "12,15,20-29".
func parseOffsets(s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("--offsets is required (see ingestctl deadletters list)")
	}
	var out []int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("--offsets: %q is not an offset or a range first-last", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("--offsets: %q is not a range first-last", part)
			}
		}
		if b-a >= 1000 || len(out)+int(b-a+1) > 1000 {
			return nil, errors.New("--offsets: at most 1000 letters at once")
		}
		for o := a; o <= b; o++ {
			out = append(out, o)
		}
	}
	return out, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
