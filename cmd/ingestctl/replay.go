package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ingestdev/ingest/controlplane/client"
	"github.com/ingestdev/ingest/migration/replay"
)

// replayTimeout bounds one replay request: above the control plane's default
// replay.request_timeout (5 m), which bounds a plan, diff or promote there.
const replayTimeout = 10 * time.Minute

// replayCommands are `ingestctl replay …`: re-ingest a tenant's Kafka window into
// replay-owned tables, diff them with live, promote them. The one-shot form (no subcommand)
// comes last, so that the completion script matches the subcommands first.
func replayCommands() []*command {
	return []*command{
		{group: "replay", name: "plan", summary: "plan a replay of a tenant's Kafka window and show what it reads and writes",
			help: "The window is --from/--to (offsets, the same for every partition) or --from-time/--to-time\n" +
				"(RFC 3339: the first record written to Kafka at or after it); from is inclusive, to exclusive.\n" +
				"Planning reads Kafka's offsets and the records' headers and writes nothing but the job.",
			setup: func(fs *flag.FlagSet) runFunc {
				w := windowFlags(fs)
				reason := fs.String("reason", "", "why (optional), recorded in the audit log")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					j, err := a.planReplay(ctx, c, w, *reason)
					if err != nil {
						return err
					}
					if a.output == "json" {
						return a.printJSON(j)
					}
					a.printReplayPlan(a.stdout, j)
					fmt.Fprintf(a.stdout, "\nnext: ingestctl replay start %s\n", j.ID)
					return nil
				})
			}},
		{group: "replay", name: "start", args: []string{"replay-id"}, summary: "run a planned replay (or resume a cancelled or failed one)",
			setup: replayAction("start", func(ctx context.Context, c *client.Client, id, reason string) (replay.Job, error) {
				return c.StartReplay(ctx, id, reason)
			})},
		{group: "replay", name: "cancel", args: []string{"replay-id"}, summary: "stop a running replay at its next checkpoint (start resumes it)",
			setup: replayAction("cancel", func(ctx context.Context, c *client.Client, id, reason string) (replay.Job, error) {
				return c.CancelReplay(ctx, id, reason)
			})},
		{group: "replay", name: "list", summary: "list replays, newest first",
			setup: func(fs *flag.FlagSet) runFunc {
				quiet := fs.Bool("q", false, "print only the ids")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					jobs, err := c.Replays(ctx)
					if err != nil {
						return a.explainReplay(err)
					}
					if *quiet {
						for _, j := range jobs {
							fmt.Fprintln(a.stdout, j.ID)
						}
						return nil
					}
					return printList(a, jobs, "ID\tTENANT\tTOPIC\tSTATE\tRECORDS\tDONE\tCREATED", func(w io.Writer, j replay.Job) {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.1f %%\t%s\n", j.ID, j.Plan.Tenant, j.Plan.Topic, j.State,
							commas(j.Plan.Records), j.Progress.Percent, formatTime(j.CreatedAt))
					})
				})
			}},
		{group: "replay", name: "status", args: []string{"replay-id"}, summary: "show a replay's state and progress; -w follows it until it stops running",
			help: "With -w the progress bar is redrawn every --interval until the replay leaves running (a line per\n" +
				"update when stdout is not a terminal); the exit status is 1 if it ends failed or cancelled.",
			setup: func(fs *flag.FlagSet) runFunc {
				watch := fs.Bool("w", false, "follow the replay until it leaves running")
				every := fs.Duration("interval", time.Second, "how often -w reads the progress")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					if *every <= 0 {
						return usagef("--interval %v must be positive", *every)
					}
					if *watch {
						return a.watchReplay(ctx, c, args[0], *every)
					}
					j, err := c.Replay(ctx, args[0])
					if err != nil {
						return a.explainReplay(err)
					}
					if a.output == "json" {
						return a.printJSON(j)
					}
					a.printReplayStatus(j)
					return nil
				})
			}},
		{group: "replay", name: "diff", args: []string{"replay-id"}, summary: "compare a loaded replay's tables with live, window by window",
			setup: func(fs *flag.FlagSet) runFunc {
				by := fs.String("by", replay.ByMinute, "window width: minute or hour")
				all := fs.Bool("all", false, "show every window, matching ones too")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					if *by != replay.ByMinute && *by != replay.ByHour {
						return usagef("--by %q: want minute or hour", *by)
					}
					d, err := c.ReplayDiff(ctx, args[0], *by)
					if err != nil {
						return a.explainReplay(err)
					}
					if a.output == "json" {
						return a.printJSON(d)
					}
					return a.printReplayDiff(d, *all)
				})
			}},
		{group: "replay", name: "promote", args: []string{"replay-id"}, summary: "show what promoting a replay changes in live, ask, then promote it",
			help: "Reads the promote plan (per live table and window: rows to insert and to delete), prints it, asks,\n" +
				"then promotes with the plan's fingerprint: if live changed since, the control plane refuses and\n" +
				"nothing changes. Audited as replay.promote.",
			setup: func(fs *flag.FlagSet) runFunc {
				reason := fs.String("reason", "", "why (optional), recorded in the audit log")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					id := args[0]
					p, err := c.ReplayPromotePlan(ctx, id)
					if err != nil {
						return a.explainReplay(err)
					}
					if p.Insert == 0 && p.Delete == 0 {
						return a.printOr(p, "replay %s: live already holds exactly the replayed rows of tenant %s: nothing to promote\n", id, p.Tenant)
					}
					a.printPromotePlan(p)
					if err := a.confirm(fmt.Sprintf("Promote replay %s: insert %s and delete %s rows of tenant %s in live?", id, commas(int64(p.Insert)), commas(int64(p.Delete)), p.Tenant)); err != nil {
						return err
					}
					res, err := c.PromoteReplay(ctx, id, p.Fingerprint, *reason)
					if err != nil {
						if errors.Is(err, client.ErrChanged) {
							return fmt.Errorf("%v; nothing changed: run `ingestctl replay promote %s` again to review the new plan", a.explainReplay(err), id)
						}
						return a.explainReplay(err)
					}
					if a.output == "json" {
						return a.printJSON(res)
					}
					fmt.Fprintf(a.stdout, "replay %s promoted: %s rows inserted, %s deleted in live, %d roll-up windows marked for recompute (%d mutations, %.1fs)\n",
						id, commas(int64(res.Inserted)), commas(int64(res.Deleted)), res.RollupWindows, res.Mutations, res.DurationSeconds)
					return nil
				})
			}},
		{group: "replay", name: "discard", args: []string{"replay-id"}, summary: "drop a replay's tables (asks first unless --yes); live is untouched",
			setup: func(fs *flag.FlagSet) runFunc {
				reason := fs.String("reason", "", "why (optional), recorded in the audit log")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
					id := args[0]
					j, err := c.Replay(ctx, id)
					if err != nil {
						return a.explainReplay(err)
					}
					if err := a.confirm(fmt.Sprintf("Discard replay %s of tenant %s (%s)? Its tables %s are dropped; live is untouched",
						id, j.Plan.Tenant, j.State, strings.Join(replayTables(j.Plan), ", "))); err != nil {
						return err
					}
					j, err = c.DiscardReplay(ctx, id, *reason)
					if err != nil {
						return a.explainReplay(err)
					}
					return a.printOr(j, "replay %s discarded: %s dropped\n", id, strings.Join(replayTables(j.Plan), ", "))
				})
			}},
		{group: "replay", summary: "plan a replay, show it, ask, start it and follow it (the one-shot form of plan, start and status -w)",
			help: "ingestctl replay --tenant acme --from=120000 --to=130000 --shadow [--yes]\n\n" +
				"A replay writes only its own tables (--shadow, the default; --shadow=false is refused): review it\n" +
				"with `ingestctl replay diff <id>`, make it live with `ingestctl replay promote <id>`.\n" +
				"Subcommands: plan, start, cancel, list, status, diff, promote, discard ('ingestctl replay <sub> -h').",
			setup: func(fs *flag.FlagSet) runFunc {
				w := windowFlags(fs)
				shadow := fs.Bool("shadow", true, "write the replay's own tables only (the only mode)")
				reason := fs.String("reason", "", "why (optional), recorded in the audit log")
				every := fs.Duration("interval", time.Second, "how often the progress is read")
				return withReplayClient(func(ctx context.Context, a *app, c *client.Client, _ []string) error {
					if !*shadow {
						return usagef("--shadow=false: replay writes only its own tables; `ingestctl replay promote` makes a window live")
					}
					if w.tenant == "" {
						return usagef("want a subcommand (plan, start, cancel, list, status, diff, promote, discard) or the one-shot form --tenant T --from N --to N")
					}
					if *every <= 0 {
						return usagef("--interval %v must be positive", *every)
					}
					j, err := a.planReplay(ctx, c, w, *reason)
					if err != nil {
						return err
					}
					if a.output != "json" {
						a.printReplayPlan(a.stdout, j)
						fmt.Fprintln(a.stdout)
					}
					if err := a.confirm(fmt.Sprintf("Start replay %s?", j.ID)); err != nil {
						return fmt.Errorf("%w; replay %s stays planned: start it later with `ingestctl replay start %s`", err, j.ID, j.ID)
					}
					if _, err := c.StartReplay(ctx, j.ID, *reason); err != nil {
						return a.explainReplay(err)
					}
					return a.watchReplay(ctx, c, j.ID, *every)
				})
			}},
	}
}

// withReplayClient is withClient with a timeout long enough for a plan, diff or promote.
func withReplayClient(f clientFunc) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		c, err := a.client(client.WithHTTPClient(&http.Client{Timeout: replayTimeout}))
		if err != nil {
			return err
		}
		return f(ctx, a, c, args)
	}
}

// replayAction is the setup of start and cancel: call, then print the job's status.
func replayAction(verb string, call func(ctx context.Context, c *client.Client, id, reason string) (replay.Job, error)) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		reason := fs.String("reason", "", "why (optional), recorded in the audit log")
		return withReplayClient(func(ctx context.Context, a *app, c *client.Client, args []string) error {
			j, err := call(ctx, c, args[0], *reason)
			if err != nil {
				return a.explainReplay(err)
			}
			if a.output == "json" {
				return a.printJSON(j)
			}
			a.printReplayStatus(j)
			if verb == "start" {
				fmt.Fprintf(a.stdout, "\nfollow it: ingestctl replay status %s -w\n", j.ID)
			}
			return nil
		})
	}
}

// window holds the flags that say which window to replay.
type window struct {
	fs               *flag.FlagSet
	tenant           string
	from, to         int64
	fromTime, toTime string
	partitions       partitionList
	rate             int
}

func windowFlags(fs *flag.FlagSet) *window {
	w := &window{fs: fs}
	fs.StringVar(&w.tenant, "tenant", "", "the tenant whose topic to replay")
	fs.Int64Var(&w.from, "from", 0, "first offset to read, inclusive (every partition)")
	fs.Int64Var(&w.to, "to", 0, "end offset, exclusive (every partition)")
	fs.StringVar(&w.fromTime, "from-time", "", "start at the first record written at or after this RFC 3339 `time`")
	fs.StringVar(&w.toTime, "to-time", "", "end before the first record written at or after this RFC 3339 `time`")
	fs.Var(&w.partitions, "partition", "replay only this `partition` (repeat, or 0,1,2; default every partition)")
	fs.IntVar(&w.rate, "rate", 0, "records per second (default the control plane's replay.rate)")
	return w
}

// request checks the flags and returns the plan request.
func (w *window) request() (replay.PlanRequest, error) {
	set := map[string]bool{}
	w.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	req := replay.PlanRequest{Tenant: w.tenant, Partitions: w.partitions, Rate: w.rate}
	if w.tenant == "" {
		return req, usagef("--tenant is required")
	}
	if w.rate < 0 {
		return req, usagef("--rate %d must not be negative", w.rate)
	}
	for _, end := range []struct {
		off, tm  string
		offset   int64
		timeText string
		o        **int64
		t        **time.Time
	}{{"from", "from-time", w.from, w.fromTime, &req.From, &req.FromTime}, {"to", "to-time", w.to, w.toTime, &req.To, &req.ToTime}} {
		switch {
		case set[end.off] && set[end.tm]:
			return req, usagef("--%s and --%s: give one", end.off, end.tm)
		case set[end.off]:
			if end.offset < 0 {
				return req, usagef("--%s %d must not be negative", end.off, end.offset)
			}
			v := end.offset
			*end.o = &v
		case set[end.tm]:
			t, err := time.Parse(time.RFC3339Nano, end.timeText)
			if err != nil {
				return req, usagef("--%s %q is not an RFC 3339 time such as 2026-03-01T12:00:00Z", end.tm, end.timeText)
			}
			*end.t = &t
		default:
			return req, usagef("--%s or --%s is required", end.off, end.tm)
		}
	}
	return req, nil
}

// partitionList is a repeatable --partition flag that also takes a comma-separated list.
type partitionList []int32

func (p *partitionList) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, v := range *p {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, ",")
}

func (p *partitionList) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("partition %q must be an integer >= 0", part)
		}
		*p = append(*p, int32(n))
	}
	return nil
}

// explainReplay turns an API error of a replay route into what to say: the control plane's
// message as it is (it names the valid range, state or setting), or explain's advice for
// connection, token and field errors.
// planReplay plans the window w describes.
func (a *app) planReplay(ctx context.Context, c *client.Client, w *window, reason string) (replay.Job, error) {
	req, err := w.request()
	if err != nil {
		return replay.Job{}, err
	}
	j, err := c.PlanReplay(ctx, req, reason)
	if err != nil {
		return replay.Job{}, a.explainReplay(err)
	}
	return j, nil
}

func (a *app) explainReplay(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) || errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrInvalid) {
		return a.explain(err, target{})
	}
	return errors.New(ce.Message)
}

// replayTables lists the tables a replay writes.
func replayTables(p replay.Plan) []string {
	out := make([]string, 0, len(p.Tables))
	for _, t := range p.Tables {
		out = append(out, t.Replay)
	}
	return out
}

// printReplayPlan prints what a planned replay reads and writes.
func (a *app) printReplayPlan(w io.Writer, j replay.Job) {
	p := j.Plan
	fmt.Fprintf(w, "replay %s: tenant %s, topic %s, ClickHouse database %s\n", j.ID, p.Tenant, p.Topic, p.Database)
	for _, r := range p.Partitions {
		fmt.Fprintf(w, "  partition %d: offsets [%d, %d) (from inclusive, to exclusive), ", r.Partition, r.From, r.To)
		if r.LastOffset >= 0 {
			fmt.Fprintf(w, "last offset %d, ", r.LastOffset)
		} else {
			fmt.Fprint(w, "no record, ")
		}
		fmt.Fprintf(w, "%s records, %s events", commas(r.Records), commas(r.Events))
		if r.Corrupt > 0 {
			fmt.Fprintf(w, ", %s corrupt (skipped)", commas(r.Corrupt))
		}
		fmt.Fprintf(w, ", event time %s\n", timeRange(r.EventTimeMin, r.EventTimeMax))
	}
	fmt.Fprintf(w, "  total: %s records, %s events", commas(p.Records), commas(p.Events))
	if p.Corrupt > 0 {
		fmt.Fprintf(w, ", %s corrupt (skipped)", commas(p.Corrupt))
	}
	fmt.Fprintf(w, ", event time %s\n", timeRange(p.EventTimeMin, p.EventTimeMax))
	fmt.Fprintln(w, "\n  the run WRITES only the replay tables; it only READS the live tables (for diff):")
	tw := a.tableTo(w)
	fmt.Fprintln(tw, "  SIGNAL\tWRITES (REPLAY TABLE)\tREADS FOR DIFF (LIVE TABLE)\tEVENTS")
	for _, t := range p.Tables {
		fmt.Fprintf(tw, "  %s\t%s.%s\t%s.%s\t%s\n", t.Signal, p.Database, t.Replay, p.Database, t.Live, commas(t.Events))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n  rate %s records/s: estimated duration %s\n", commas(int64(p.Rate)), formatSeconds(p.EstimatedSeconds))
}

func timeRange(first, last *time.Time) string {
	if first == nil || last == nil {
		return "-"
	}
	return formatTime(*first) + " … " + formatTime(*last)
}

// formatSeconds renders a duration in seconds as 7s, 3m20s or 2h5m.
func formatSeconds(s float64) string {
	if s < 1 {
		return "under 1s"
	}
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	return d.String()
}

// commas renders n with thousands separators: 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// progressLine is "[#######.....] 63.2%  1,234,567/1,953,125 records  98,412 rec/s  ETA 7s".
func progressLine(p replay.Progress) string {
	const width = 30
	done := int(p.Percent / 100 * width)
	done = max(0, min(width, done))
	line := fmt.Sprintf("[%s%s] %.1f%%  %s/%s records  %s rec/s", strings.Repeat("#", done), strings.Repeat(".", width-done),
		p.Percent, commas(p.RecordsDone), commas(p.RecordsTotal), commas(int64(p.RatePerSecond)))
	if p.ETASeconds > 0 {
		line += "  ETA " + formatSeconds(p.ETASeconds)
	}
	return line
}

// printReplayStatus prints a job's state, progress and what to do next.
func (a *app) printReplayStatus(j replay.Job) {
	w := a.stdout
	p := j.Progress
	fmt.Fprintf(w, "replay %s: tenant %s, topic %s: %s\n", j.ID, j.Plan.Tenant, j.Plan.Topic, j.State)
	fmt.Fprintf(w, "  records %s/%s (%.1f %%)", commas(p.RecordsDone), commas(p.RecordsTotal), p.Percent)
	if j.State == replay.StateRunning {
		fmt.Fprintf(w, ", rate %s rec/s, ETA %s", commas(int64(p.RatePerSecond)), formatSeconds(p.ETASeconds))
	}
	fmt.Fprintln(w)
	if j.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", j.Error)
	}
	ends := map[int32]int64{}
	for _, r := range j.Plan.Partitions {
		ends[r.Partition] = r.To
	}
	tw := a.table()
	fmt.Fprintln(tw, "  PARTITION\tNEXT OFFSET\tEND (EXCLUSIVE)\tDONE")
	for _, pp := range p.Partitions {
		done := "no"
		if pp.Done {
			done = "yes"
		}
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\n", pp.Partition, pp.Next, ends[pp.Partition], done)
	}
	_ = tw.Flush()
	if next := replayNext(j); next != "" {
		fmt.Fprintf(w, "next: %s\n", next)
	}
}

// replayNext is the command an operator runs next on a job in its state.
func replayNext(j replay.Job) string {
	switch j.State {
	case replay.StatePlanned, replay.StateCancelled, replay.StateFailed:
		return "ingestctl replay start " + j.ID + "   (resumes from the checkpoint)"
	case replay.StateRunning:
		return "ingestctl replay status " + j.ID + " -w"
	case replay.StateLoaded:
		return "ingestctl replay diff " + j.ID + ", then ingestctl replay promote " + j.ID
	}
	return ""
}

// watchReplay follows a job until it leaves running: a redrawn progress bar on a terminal, a
// line per update otherwise. It fails if the job ends failed or cancelled.
func (a *app) watchReplay(ctx context.Context, c *client.Client, id string, every time.Duration) error {
	redraw := a.output != "json" && a.outTTY != nil && a.outTTY()
	var j replay.Job
	for {
		var err error
		if j, err = c.Replay(ctx, id); err != nil {
			if redraw {
				fmt.Fprintln(a.stdout)
			}
			return a.explainReplay(err)
		}
		if j.State != replay.StateRunning {
			break
		}
		switch {
		case a.output == "json":
		case redraw:
			fmt.Fprintf(a.stdout, "\r\033[K%s", progressLine(j.Progress))
		default:
			fmt.Fprintln(a.stdout, progressLine(j.Progress))
		}
		select {
		case <-ctx.Done():
			if redraw {
				fmt.Fprintln(a.stdout)
			}
			return fmt.Errorf("stopped following replay %s; it keeps running: `ingestctl replay status %s -w`", id, id)
		case <-time.After(every):
		}
	}
	if redraw {
		fmt.Fprintf(a.stdout, "\r\033[K")
	}
	if a.output == "json" {
		if err := a.printJSON(j); err != nil {
			return err
		}
	} else {
		a.printReplayStatus(j)
	}
	switch j.State {
	case replay.StateFailed:
		return fmt.Errorf("replay %s failed: %s; retry with `ingestctl replay start %s` (it resumes from its checkpoint)", id, j.Error, id)
	case replay.StateCancelled:
		return fmt.Errorf("replay %s was cancelled at %s of %s records; resume it with `ingestctl replay start %s`", id, commas(j.Progress.RecordsDone), commas(j.Progress.RecordsTotal), id)
	}
	return nil
}

var windowStatusText = map[string]string{
	replay.WindowMatching: "matching", replay.WindowMissingInLive: "missing in live",
	replay.WindowExtraInLive: "extra in live", replay.WindowDiffering: "differing",
}

// printReplayDiff prints the non-matching windows (all with all), then the totals.
func (a *app) printReplayDiff(d replay.Diff, all bool) error {
	w := a.stdout
	t := d.Totals
	fmt.Fprintf(w, "replay %s of tenant %s (%s) against live, windows by %s\n", d.ID, d.Tenant, d.Topic, d.Granularity)
	shown := 0
	tw := a.table()
	fmt.Fprintln(tw, "TABLE\tWINDOW START\tLIVE ROWS\tREPLAY ROWS\tLIVE HASH\tREPLAY HASH\tSTATUS")
	for _, win := range d.Windows {
		if !all && win.Status == replay.WindowMatching {
			continue
		}
		shown++
		status := windowStatusText[win.Status]
		if status == "" {
			status = win.Status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", win.Table, formatTime(win.Start), commas(int64(win.LiveRows)), commas(int64(win.ReplayRows)),
			win.LiveHash, win.ReplayHash, status)
	}
	if shown > 0 {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	switch {
	case t.Windows == 0:
		fmt.Fprintln(w, "no windows: neither side holds a row of the planned offsets")
	case t.Matching == t.Windows:
		fmt.Fprintf(w, "all %d windows match\n", t.Windows)
	case !all:
		fmt.Fprintf(w, "(%d matching windows not shown; --all shows them)\n", t.Matching)
	}
	fmt.Fprintf(w, "totals: %d windows: %d matching, %d missing in live, %d extra in live, %d differing; rows: live %s, replay %s\n",
		t.Windows, t.Matching, t.MissingInLive, t.ExtraInLive, t.Differing, commas(int64(t.LiveRows)), commas(int64(t.ReplayRows)))
	if t.Matching != t.Windows {
		fmt.Fprintf(w, "next: ingestctl replay promote %s   (shows exactly what changes in live, then asks)\n", d.ID)
	}
	return nil
}

// printPromotePlan says on stderr exactly what a promote changes, before it asks.
func (a *app) printPromotePlan(p replay.PromotePlan) {
	w := a.stderr
	fmt.Fprintf(w, "Promote replay %s of tenant %s into live:\n", p.ID, p.Tenant)
	tw := a.tableTo(w)
	fmt.Fprintln(tw, "  LIVE TABLE\tPARTITION\tWINDOW START\tINSERT ROWS\tDELETE ROWS")
	for _, c := range p.Changes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Table, c.Partition, formatTime(c.Start), commas(int64(c.Insert)), commas(int64(c.Delete)))
	}
	fmt.Fprintf(tw, "  total\t\t\t%s\t%s\n", commas(int64(p.Insert)), commas(int64(p.Delete)))
	_ = tw.Flush()
	if p.Mechanism != "" {
		fmt.Fprintf(w, "  how: %s\n", p.Mechanism)
	}
	fmt.Fprintf(w, "  plan fingerprint %s: if live changes before the promote runs, it is refused\n", p.Fingerprint)
}
