// Package tenantrates reads the services' Prometheus metrics and turns two rounds of scrapes
// into per-tenant figures: events per second accepted and rejected (by reason), requests per
// second shed with 429 or 503 (by reason), records per second produced to Kafka, the loaders'
// lag per tenant topic, and the p95 of send → visible. It is what `ingestctl top` shows.
//
// A Scraper reads each target's /metrics (the text exposition format, parsed with
// github.com/prometheus/common/expfmt); a target that does not answer is a Scrape with Err,
// never a failure of the round. Compute then works as Prometheus' rate() and
// histogram_quantile() over the two rounds:
//
//   - a counter's increase is taken per series and per target, over the time between that
//     target's two scrapes; a value below the previous one is a reset (the increase is the new
//     value), and a series absent from the previous scrape started at zero since (the services
//     create their per-tenant series on first use). A target down in either round adds no rate.
//   - the rates of the targets are summed: replicas of a service count distinct events.
//   - gauges (lag) are the latest round's: records summed over the loaders, seconds the largest.
//   - the p95 is interpolated within the histogram buckets of the rows loaded between the two
//     rounds (bucket increases summed over loaders), as histogram_quantile does.
//
// The metrics it reads are the Metric* constants; everything else in a scrape is ignored.
package tenantrates
