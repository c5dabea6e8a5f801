package replay

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PlanRequest asks for a replay plan of one tenant's topic. The start of the window is From
// (an offset, the same for every partition) or FromTime (the first record written to Kafka at
// or after it, resolved per partition); its end is To (an offset, exclusive) or ToTime (the
// first record written at or after it, exclusive). Partitions restricts the plan to those
// partitions; empty means every partition of the topic.
type PlanRequest struct {
	Tenant     string     `json:"tenant"`
	From       *int64     `json:"from,omitempty"`
	To         *int64     `json:"to,omitempty"`
	FromTime   *time.Time `json:"from_time,omitempty"`
	ToTime     *time.Time `json:"to_time,omitempty"`
	Partitions []int32    `json:"partitions,omitempty"`
	// Rate is the replay's throttle in records per second; zero means Config.Rate.
	Rate int `json:"rate,omitempty"`
}

// PartitionRange is what a replay reads of one partition: offsets From (inclusive) to To
// (exclusive), which Kafka held when the plan was made.
type PartitionRange struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"` // the first offset read, inclusive
	To        int64 `json:"to"`   // the end, exclusive: the last offset read is at most To-1
	// LastOffset is the offset of the last record in [From, To); -1 when the range holds none.
	LastOffset int64 `json:"last_offset"`
	Records    int64 `json:"records"` // Kafka records in the range
	Events     int64 `json:"events"`  // records that are events of the tenant (the rest are corrupt)
	Corrupt    int64 `json:"corrupt"` // records that are not a record this pipeline reads: skipped and counted
	// EventTimeMin and EventTimeMax are the event times of the earliest and latest event.
	EventTimeMin *time.Time `json:"event_time_min,omitempty"`
	EventTimeMax *time.Time `json:"event_time_max,omitempty"`
	// LogStart and HighWatermark are what the partition held when the plan was made:
	// offsets [LogStart, HighWatermark).
	LogStart      int64 `json:"log_start"`
	HighWatermark int64 `json:"high_watermark"`

	firstWritten time.Time // the Kafka timestamp of the first record in range, while planning
}

// TableTarget is one table a replay writes: the replay's own table, never a live one.
type TableTarget struct {
	Signal string `json:"signal"` // logs, metrics, spans
	Live   string `json:"live"`   // the live table it mirrors (compared by diff, written by promote only)
	Replay string `json:"replay"` // the replay's own table: the only table the run writes
	Events int64  `json:"events"` // planned events of this signal
}

// Plan is everything a replay will read and write, computed before it reads anything for
// real.
type Plan struct {
	Tenant     string           `json:"tenant"`
	Topic      string           `json:"topic"`
	Database   string           `json:"database"`
	Partitions []PartitionRange `json:"partitions"`
	Records    int64            `json:"records"`
	Events     int64            `json:"events"`
	Corrupt    int64            `json:"corrupt"`
	// EventTimeMin and EventTimeMax bound the event times of every planned event.
	EventTimeMin *time.Time    `json:"event_time_min,omitempty"`
	EventTimeMax *time.Time    `json:"event_time_max,omitempty"`
	Tables       []TableTarget `json:"tables"`
	Rate         int           `json:"rate"` // records per second
	// EstimatedSeconds is Records / Rate: the run's duration at the planned rate.
	EstimatedSeconds float64     `json:"estimated_seconds"`
	Request          PlanRequest `json:"request"`
}

// State is where a replay job is in its life.
type State string

// The states of a job. planned → running → loaded → promoted; running → cancelled (start
// resumes it) or failed (start retries it); any state but running → discarded.
const (
	StatePlanned   State = "planned"
	StateRunning   State = "running"
	StateLoaded    State = "loaded" // every planned record is in the replay tables
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
	StatePromoted  State = "promoted"
	StateDiscarded State = "discarded"
)

// PartitionProgress is how far a run got in one partition.
type PartitionProgress struct {
	Partition int32 `json:"partition"`
	Next      int64 `json:"next"` // the next offset to read: everything below it is in the replay tables
	Done      bool  `json:"done"`
}

// Progress is a run's progress.
type Progress struct {
	RecordsDone  int64   `json:"records_done"`
	RecordsTotal int64   `json:"records_total"`
	Percent      float64 `json:"percent"`
	// RatePerSecond is the recent rate (records per second); ETASeconds the time left at it.
	RatePerSecond float64 `json:"rate_per_second"`
	ETASeconds    float64 `json:"eta_seconds"`
	// Corrupt counts records skipped because they are not a record this pipeline reads;
	// Refused the rows ClickHouse refused for their data (the live loader dead-letters both).
	Corrupt    int64               `json:"corrupt"`
	Refused    int64               `json:"refused"`
	StartedAt  *time.Time          `json:"started_at,omitempty"`
	FinishedAt *time.Time          `json:"finished_at,omitempty"`
	Partitions []PartitionProgress `json:"partitions"`
}

// Job is a persisted replay: its plan, state and progress.
type Job struct {
	ID        string    `json:"id"`
	State     State     `json:"state"`
	Plan      Plan      `json:"plan"`
	Progress  Progress  `json:"progress"`
	Error     string    `json:"error,omitempty"` // why it failed
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Promotion is the promote's result once promoted.
	Promotion *PromoteResult `json:"promotion,omitempty"`
}

// Granularity of a diff's windows.
const (
	ByMinute = "minute"
	ByHour   = "hour"
)

// Window statuses of a diff.
const (
	WindowMatching      = "matching"        // the same rows on both sides (count and content hash)
	WindowMissingInLive = "missing_in_live" // live holds fewer rows than the replay
	WindowExtraInLive   = "extra_in_live"   // live holds more rows than the replay
	WindowDiffering     = "differing"       // the same number of rows, different content
)

// DiffWindow compares one table's rows of one window (by event time) on both sides: the
// tenant's rows read from the planned offsets, in live and in the replay's table.
type DiffWindow struct {
	Table      string    `json:"table"` // the live table
	Start      time.Time `json:"start"`
	LiveRows   uint64    `json:"live_rows"`
	ReplayRows uint64    `json:"replay_rows"`
	LiveHash   string    `json:"live_hash"` // order-independent: the sum of the rows' hashes
	ReplayHash string    `json:"replay_hash"`
	Status     string    `json:"status"`
}

// DiffTotals sums a diff.
type DiffTotals struct {
	Windows       int    `json:"windows"`
	Matching      int    `json:"matching"`
	MissingInLive int    `json:"missing_in_live"`
	ExtraInLive   int    `json:"extra_in_live"`
	Differing     int    `json:"differing"`
	LiveRows      uint64 `json:"live_rows"`
	ReplayRows    uint64 `json:"replay_rows"`
}

// Diff is a replay's comparison with live.
type Diff struct {
	ID          string       `json:"id"`
	Tenant      string       `json:"tenant"`
	Topic       string       `json:"topic"`
	Granularity string       `json:"granularity"`
	Windows     []DiffWindow `json:"windows"`
	Totals      DiffTotals   `json:"totals"`
}

// PromoteChange is what a promote changes in one live table and window.
type PromoteChange struct {
	Table     string    `json:"table"` // the live table
	Partition string    `json:"partition"`
	Start     time.Time `json:"start"` // the window (minute)
	// Insert counts the replayed rows that live lacks (or holds with other content);
	// Delete the live rows of the planned offsets that have no identical replayed row.
	Insert uint64 `json:"insert"`
	Delete uint64 `json:"delete"`
}

// PromotePlan is what a promote will change, shown before it changes anything. Promote
// refuses to run unless given the Fingerprint of the plan the operator saw, and the changes
// are the same when it runs.
type PromotePlan struct {
	ID          string          `json:"id"`
	Tenant      string          `json:"tenant"`
	Changes     []PromoteChange `json:"changes"`
	Insert      uint64          `json:"insert"`
	Delete      uint64          `json:"delete"`
	Fingerprint string          `json:"fingerprint"`
	// Mechanism says how the change is applied and what it guarantees (docs/replay.md).
	Mechanism string `json:"mechanism"`
}

// PromoteResult is what a promote did.
type PromoteResult struct {
	PromotePlan
	Inserted        uint64    `json:"inserted"`
	Deleted         uint64    `json:"deleted"`
	Mutations       int       `json:"mutations"`
	RollupWindows   int       `json:"rollup_windows"` // roll-up minutes marked for recompute
	PromotedAt      time.Time `json:"promoted_at"`
	DurationSeconds float64   `json:"duration_seconds"`
}

// Error codes of *Error.
const (
	CodeNotFound      = "not_found"        // no such replay
	CodeUnknownTenant = "unknown_tenant"   // no such tenant, or it never wrote a record
	CodeBadRange      = "bad_range"        // the window is outside what Kafka holds, empty or reversed
	CodeBadPartition  = "bad_partition"    // a partition the topic does not have
	CodeInvalid       = "invalid"          // a malformed request
	CodeState         = "bad_state"        // the job's state does not allow it
	CodeChanged       = "changed"          // the promote plan changed since it was shown
	CodeNotReady      = "not_ready"        // live has not loaded the window yet, or the replica lacks parts others committed
	CodeKafka         = "kafka_error"      // Kafka failed or could not be reached
	CodeClickHouse    = "clickhouse_error" // ClickHouse failed or could not be reached
	CodeNotConfigured = "not_configured"   // replay is not configured
	CodeUnavailable   = "unavailable"      // the manager is shutting down
	CodeTimeout       = "timeout"          // the request ran out of time
)

// Error is a replay operation refused or failed, with a code the API maps to its status and
// a message that names the valid range, state or next step.
type Error struct {
	Code string
	Msg  string
	Err  error // the cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with code and a formatted message.
func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned by a Store for an unknown id.
var ErrNotFound = errors.New("no such replay")

// Service is what the control plane's API (/v1/replays) calls. *Manager implements it.
type Service interface {
	// Plan computes, persists and returns a planned job; it reads Kafka's offsets and the
	// planned records' headers, and writes nothing else.
	Plan(ctx context.Context, req PlanRequest) (Job, error)
	// Start runs a planned, cancelled or failed job (resuming it from its checkpoint).
	Start(ctx context.Context, id string) (Job, error)
	// Cancel stops a running job at its next checkpoint; start resumes it.
	Cancel(ctx context.Context, id string) (Job, error)
	// Get returns a job with its current progress.
	Get(ctx context.Context, id string) (Job, error)
	// List returns every job, newest first.
	List(ctx context.Context) ([]Job, error)
	// Diff compares a loaded job's tables with live, per window of granularity (ByMinute or
	// ByHour; "" means ByMinute).
	Diff(ctx context.Context, id, granularity string) (Diff, error)
	// PromotePlan returns what Promote would change, and its fingerprint.
	PromotePlan(ctx context.Context, id string) (PromotePlan, error)
	// Promote makes the tenant's window in live equal the replayed rows, if the promote plan
	// still has fingerprint.
	Promote(ctx context.Context, id, fingerprint string) (PromoteResult, error)
	// Discard drops a job's replay tables; the job stays listed as discarded.
	Discard(ctx context.Context, id string) (Job, error)
}

// Store persists jobs. The control plane's registry implements it (in its bbolt file);
// MemStore is for tests.
type Store interface {
	// NextID returns a new job id, never returned before.
	NextID(ctx context.Context) (string, error)
	// Put creates or replaces the job with j.ID.
	Put(ctx context.Context, j Job) error
	// Get returns the job with id, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Job, error)
	// List returns every job, in any order.
	List(ctx context.Context) ([]Job, error)
}
