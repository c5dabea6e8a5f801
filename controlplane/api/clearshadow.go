package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ingestdev/ingest/controlplane/registry"
	"github.com/ingestdev/ingest/internal/chmutation"
	"github.com/ingestdev/ingest/internal/chreplica"
	"github.com/ingestdev/ingest/sinkwriter/schema"
)

// Defaults of ClickHouse.
const (
	DefaultClickHouseDatabase = "ingest"
	DefaultClickHouseTimeout  = 20 * time.Second
)

// ClickHouse is the ClickHouse that holds the shadow tables, for GET
// /v1/tenants/{id}/cutover/shadow and POST /v1/tenants/{id}/cutover/clear-shadow. The zero
// value (no Conn) means none is configured: those routes answer 501 not_configured.
type ClickHouse struct {
	// Conn is the connection pool (the control plane opens it from clickhouse.addr). Nil: no
	// ClickHouse. The API does not close it.
	Conn driver.Conn
	// Database is the database of the tables. Zero: DefaultClickHouseDatabase.
	Database string
	// Cluster is the ClickHouse cluster of the tables (the loaders' clickhouse_cluster), whose
	// replica Conn reaches. The deletes are the same statements, which Replicated tables
	// replicate through ZooKeeper; a clear-shadow waits until the reached replica has loaded and
	// finished them (a replica lists a mutation moments after the ALTER returns). Counts are of
	// that replica. Zero: one server.
	Cluster string
	// Timeout bounds one request of those routes: counting the rows, submitting the deletes
	// and waiting for them to finish. Keep it under ingestctl's request timeout of 30 s. A
	// delete still running when it passes goes on in ClickHouse (answer 504). Zero:
	// DefaultClickHouseTimeout.
	Timeout time.Duration
	// PollInterval is how often system.mutations is read while waiting for the deletes.
	// Zero: 200 ms.
	PollInterval time.Duration
}

// perSetTable matches a migration statement that creates a table once per table set.
var perSetTable = regexp.MustCompile(`(?i)CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+` +
	regexp.QuoteMeta(schema.Placeholder) + `\.(\w+)` + regexp.QuoteMeta(schema.TableSetPlaceholder) + `\s`)

// ShadowTables returns the shadow tables (logs_shadow, metrics_shadow, …) in the order the
// schema migrations create them: every table a migration creates once per table set, with
// schema.ShadowTableSet appended. Materialized views are not tables and are left out.
func ShadowTables() ([]string, error) {
	ms, err := schema.Migrations()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		for _, sub := range perSetTable.FindAllStringSubmatch(m.SQL, -1) {
			if t := sub[1] + schema.ShadowTableSet; !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the schema migrations create no table per table set: no shadow tables")
	}
	return out, nil
}

// shadowStore counts and deletes a tenant's rows in the shadow tables.
type shadowStore struct {
	conn    driver.Conn
	db      string
	cluster string // "": one server
	tables  []string
	timeout time.Duration
	poll    time.Duration
	running chan struct{} // one clear-shadow at a time
}

func newShadowStore(ch ClickHouse) (*shadowStore, error) {
	if ch.Conn == nil {
		return nil, nil
	}
	s := &shadowStore{conn: ch.Conn, db: ch.Database, cluster: ch.Cluster, timeout: ch.Timeout, poll: ch.PollInterval, running: make(chan struct{}, 1)}
	if s.db == "" {
		s.db = DefaultClickHouseDatabase
	}
	if !schema.ValidDatabase(s.db) {
		return nil, fmt.Errorf("cannot use ClickHouse database %q: not a valid name (^[A-Za-z_][A-Za-z0-9_]*$)", s.db)
	}
	if ch.Cluster != "" && !schema.ValidCluster(ch.Cluster) {
		return nil, fmt.Errorf("cannot use ClickHouse cluster %q: not a valid name (^[A-Za-z_][A-Za-z0-9_-]*$)", ch.Cluster)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultClickHouseTimeout
	}
	if s.poll <= 0 {
		s.poll = 200 * time.Millisecond
	}
	var err error
	if s.tables, err = ShadowTables(); err != nil {
		return nil, err
	}
	return s, nil
}

// qualified is db.table, quoted; both are checked identifiers.
func (s *shadowStore) qualified(table string) string { return "`" + s.db + "`.`" + table + "`" }

// clickHouseError is a ClickHouse request that failed (502 clickhouse_error).
type clickHouseError struct {
	what string // "count the rows of ingest.logs_shadow"
	err  error
}

func (e *clickHouseError) Error() string { return "cannot " + e.what + ": " + e.err.Error() }
func (e *clickHouseError) Unwrap() error { return e.err }

// mutationsPendingError is a clear-shadow whose deletes did not finish in time (504 timeout).
type mutationsPendingError struct {
	tenant  string
	tables  []string
	timeout time.Duration
}

func (e *mutationsPendingError) Error() string {
	return fmt.Sprintf("the deletes of tenant %s's shadow rows did not finish within %v (still running on %s); ClickHouse goes on with them: "+
		"see what is left with GET /v1/tenants/%s/cutover/shadow (`ingestctl cutover clear-shadow %s` shows it first), or raise clickhouse.timeout",
		e.tenant, e.timeout, strings.Join(e.tables, ", "), e.tenant, e.tenant)
}

// errNoClickHouse answers the shadow routes of a control plane without ClickHouse.
var errNoClickHouse = &apiError{status: http.StatusNotImplemented, code: CodeNotConfigured,
	msg: "the control plane has no ClickHouse configured (clickhouse.addr): start it with --clickhouse host:port " +
		"(or clickhouse.addr in its config file; the password comes from INGEST_CLICKHOUSE_PASSWORD) to count and clear shadow rows"}

// count returns the rows of tenant in each shadow table and their total.
func (s *shadowStore) count(ctx context.Context, tenant string) ([]ShadowTableRows, uint64, error) {
	out := make([]ShadowTableRows, 0, len(s.tables))
	var total uint64
	for _, t := range s.tables {
		var n uint64
		// The driver binds ? on the client (a quoted, escaped literal): ClickHouse 18.16 has
		// no server-side parameters.
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.qualified(t)+" WHERE tenant = ?", tenant).Scan(&n); err != nil {
			return nil, 0, &clickHouseError{what: fmt.Sprintf("count the rows of tenant %s in %s.%s", tenant, s.db, t), err: err}
		}
		out = append(out, ShadowTableRows{Table: t, Rows: n})
		total += n
	}
	return out, total, nil
}

// clear submits `ALTER TABLE … DELETE WHERE tenant = ?` on every shadow table (a mutation)
// and waits until the mutations it created are done. It returns the number of mutations
// submitted, also with an error once any was: they go on in ClickHouse.
//
// On a cluster the shadow tables are Replicated: each delete is a mutation in ZooKeeper that
// every replica applies to its parts, those it will fetch included (the mutation covers every
// block committed before it, on any replica). The wait is on the replica conn reaches, which
// lists the mutation only once it has loaded it from ZooKeeper (chreplica.WaitMutations).
func (s *shadowStore) clear(ctx context.Context, tenant string) (int, error) {
	known, err := chmutation.List(ctx, s.conn, s.db)
	if err != nil {
		return 0, &clickHouseError{what: "read system.mutations", err: err}
	}
	submitted := 0
	for _, t := range s.tables {
		if err := s.conn.Exec(ctx, "ALTER TABLE "+s.qualified(t)+" DELETE WHERE tenant = ?", tenant); err != nil {
			return submitted, &clickHouseError{what: fmt.Sprintf("delete the rows of tenant %s in %s.%s", tenant, s.db, t), err: err}
		}
		submitted++
	}
	wait := chmutation.Wait
	if s.cluster != "" {
		wait = chreplica.WaitMutations
	}
	pending, err := wait(ctx, s.conn, s.db, known, s.tables, s.poll)
	switch {
	case err != nil && ctx.Err() != nil:
		return submitted, &mutationsPendingError{tenant: tenant, tables: pending, timeout: s.timeout}
	case err != nil:
		return submitted, &clickHouseError{what: "read system.mutations", err: err}
	}
	return submitted, nil
}

// shadowTarget checks that the shadow routes can run and reads the tenant.
func (h *handler) shadowTarget(r *http.Request) (registry.Tenant, error) {
	if h.shadow == nil {
		return registry.Tenant{}, errNoClickHouse
	}
	return h.reg.Tenant(r.Context(), r.PathValue("id"))
}

// getShadow is GET /v1/tenants/{id}/cutover/shadow: the tenant's rows per shadow table.
func (h *handler) getShadow(w http.ResponseWriter, r *http.Request) error {
	t, err := h.shadowTarget(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.shadow.timeout)
	defer cancel()
	tables, total, err := h.shadow.count(ctx, t.ID)
	if err != nil {
		return err
	}
	setETag(w, t.Revision)
	writeJSON(w, http.StatusOK, ShadowRows{Tenant: t.ID, Stage: t.Stage, Revision: t.Revision, Database: h.shadow.db, Tables: tables, TotalRows: total})
	return nil
}

// clearShadow is POST /v1/tenants/{id}/cutover/clear-shadow: delete the tenant's rows in
// every shadow table, wait for the deletes, audit.
func (h *handler) clearShadow(w http.ResponseWriter, r *http.Request) error {
	var req ClearShadowRequest
	if err := h.decode(w, r, &req, true); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if h.shadow == nil {
		return errNoClickHouse
	}
	if err := registry.ValidateAction(actor(r), "", req.Reason); err != nil {
		return err // before deleting anything: the audit entry must be writable
	}
	rev, err := expectedRevision(r, req.Revision, false, 1)
	if err != nil {
		return err
	}
	t, err := h.shadowTarget(r)
	if err != nil {
		return err
	}
	if rev != 0 && rev != t.Revision {
		return &registry.ConflictError{Object: "tenant", ID: t.ID, Expected: rev, Current: t.Revision}
	}
	inShadow := t.Stage.Kind == registry.StageShadow
	if inShadow && !req.Force {
		return &apiError{status: http.StatusConflict, code: CodeInShadow,
			msg: fmt.Sprintf("tenant %s is in shadow: its mirrored traffic keeps landing in the shadow tables, so cleared rows would come back at once; "+
				"roll it back first (`ingestctl cutover rollback %s --to legacy`), or pass force to clear what is there now", t.ID, t.ID)}
	}
	select {
	case h.shadow.running <- struct{}{}:
		defer func() { <-h.shadow.running }()
	case <-r.Context().Done():
		return r.Context().Err()
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.shadow.timeout)
	defer cancel()
	start := time.Now()
	before, total, err := h.shadow.count(ctx, t.ID)
	if err != nil {
		return err
	}
	res := ClearShadowResult{Tenant: t.ID, Stage: t.Stage, Database: h.shadow.db, Forced: inShadow, Before: before, RowsBefore: total, Reason: req.Reason}
	submitted, clearErr := h.shadow.clear(ctx, t.ID)
	if submitted == 0 {
		return clearErr
	}
	if clearErr == nil {
		res.After, res.RowsAfter, clearErr = h.shadow.count(ctx, t.ID)
	}
	res.Mutations, res.Done = submitted, clearErr == nil
	res.Duration = time.Since(start).Round(time.Millisecond).String()
	// The deletes were submitted: audit them even if the caller went away.
	entry, err := h.reg.RecordAction(context.WithoutCancel(r.Context()), actor(r), registry.ActionCutoverClearShadow, t.ID,
		clearShadowSummary(res, len(h.shadow.tables), clearErr), req.Reason, res)
	if err != nil {
		return err
	}
	res.AuditSeq = entry.Seq
	if clearErr != nil {
		return clearErr
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// clearShadowSummary is the one-line audit summary of a clear-shadow.
func clearShadowSummary(res ClearShadowResult, tables int, err error) string {
	var per []string
	for _, t := range res.Before {
		if t.Rows > 0 {
			per = append(per, fmt.Sprintf("%s %d", t.Table, t.Rows))
		}
	}
	s := fmt.Sprintf("cleared shadow rows: %d before", res.RowsBefore)
	if len(per) > 0 {
		s += " (" + strings.Join(per, ", ") + ")"
	}
	switch {
	case err != nil:
		s += fmt.Sprintf("; %d of %d deletes submitted, not finished: %v", res.Mutations, tables, err)
	default:
		s += fmt.Sprintf(", %d after", res.RowsAfter)
	}
	if res.Forced {
		s += " (forced while in shadow)"
	}
	return s
}
