// Package metricdef is how the components define and register their Prometheus metrics: one
// call per metric with its name, help and label names, and one call that registers a
// component's collectors with the injected prometheus.Registerer.
//
// It holds no state and no registry of its own: every component still builds its metrics in its
// own newMetrics and hands them to the registerer it was given (no global registry).
package metricdef
