package k8s

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	fixedheap "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// check is one property every rendered kustomization must have; run returns every violation.
type check struct {
	name string
	run  func(a *analysis) []error
}

// checks are run on the base and every overlay (TestManifests); each has failing cases in
// TestChecksCatchBrokenManifests.
var checks = []check{
	{"services", checkServices},
	{"files", checkFiles},
	{"ports", checkPorts},
	{"probes", checkProbes},
	{"endpoints", checkEndpoints},
	{"references", checkReferences},
	{"memory", checkMemory},
	{"scaling", checkScaling},
	{"grace", checkGrace},
	{"scrape", checkScrape},
	{"singleton", checkSingleton},
	{"wiring", checkWiring},
	{"images", checkImages},
	{"placeholders", checkPlaceholders},
}

// Memory margins: the fault suite's bound on a Go service's peak RSS is base + 2 × the live
// bytes its limits allow (docs/reliability.md, "Memory bounds"; e2e/faults_test.go,
// faultRSSBounds): base 96 MiB (runtime, code, connections; measured 20–67 MiB), 2 because
// with GOGC=100 the heap grows to twice the live bytes before a collection. The loader sets a
// Go soft memory limit instead: its bound is that limit + 32 MiB (measured within 16 MiB of
// it). Envoy: its own heap (the overload manager's fixed_heap bound) + the Go filter's
// GOMEMLIMIT + envoyOverhead for what neither counts (the binary, thread stacks, the
// allocator's own overhead).
const (
	mib                = 1 << 20
	goServiceBase      = 96 * mib
	loaderLimitSlack   = 32 * mib
	envoyOverhead      = 128 * mib
	normalizerLiveMult = 2 // the bodies, and each one's encoded batch, at most as large
	sinkWriterLiveMult = 3 // pooled batch buffers by power-of-two size (≤ 2×), franz-go's compressed copies (≤ 1×)
)

// checkServices: every container is an ingest service or the edge, run with only --config
// (or Envoy's --config-path), whose file decodes strictly with the service's own config type
// and validates; every service of the pipeline is there.
func checkServices(a *analysis) []error {
	errs := slices.Clone(a.errs)
	for _, kind := range []string{kindEnvoy, kindNormalizer, kindSinkWriter, kindLoader, kindControlPlane} {
		if len(a.find(kind, "")) == 0 {
			errs = append(errs, fmt.Errorf("no container runs the %s", kind))
		}
	}
	return errs
}

// checkFiles: every file a configuration names (tokens, keys, certificates, CAs, passwords;
// Envoy's DataSource filenames) is a key of a ConfigMap or Secret mounted in the container,
// and keys, tokens and passwords come from Secrets.
func checkFiles(a *analysis) []error {
	var errs []error
	for _, s := range a.services {
		for _, f := range s.files {
			src, err := a.m.fileSource(s.w, s.c, f.path)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %s: %w", s, f.key, err))
			case src.data == nil:
				errs = append(errs, fmt.Errorf("%s: %s %s is on a %s volume, not from a ConfigMap or Secret: nothing puts it there", s, f.key, f.path, src.kind))
			case sensitive(f.key) && src.kind != "Secret":
				errs = append(errs, fmt.Errorf("%s: %s %s comes from %s: a key, token or password must come from a Secret", s, f.key, f.path, src))
			}
		}
	}
	return errs
}

// sensitive reports whether the file a config key names is a secret.
func sensitive(key string) bool {
	for _, w := range []string{"token", "key_file", "password", "private_key"} {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

// checkPorts: the container ports are exactly the listen addresses of the service's config
// (Envoy: its bootstrap's listeners and the control plane's xds.listener_port), and those do
// not bind loopback, which neither the kubelet nor a Service reaches; a listener meant for
// the pod alone (Envoy's admin) binds loopback and has no container port.
func checkPorts(a *analysis) []error {
	var errs []error
	for _, s := range a.services {
		for _, l := range s.listeners {
			declared := slices.ContainsFunc(s.c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == l.port })
			switch {
			case l.internal && !isLoopback(l.host):
				errs = append(errs, fmt.Errorf("%s: %s binds %q, not loopback: it must stay inside the pod", s, l, l.host))
			case l.internal && declared:
				errs = append(errs, fmt.Errorf("%s: %s is for the pod alone but is a container port", s, l))
			case !l.internal && isLoopback(l.host):
				errs = append(errs, fmt.Errorf("%s: %s binds loopback: neither probes nor Services reach it", s, l))
			case !l.internal && !declared:
				errs = append(errs, fmt.Errorf("%s: %s: port %d is not a container port", s, l, l.port))
			}
		}
		for _, p := range s.c.Ports {
			l := s.listenerOn(p.ContainerPort)
			if l == nil || l.internal {
				errs = append(errs, fmt.Errorf("%s: container port %s %d matches no listen address of its config", s, p.Name, p.ContainerPort))
			}
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				errs = append(errs, fmt.Errorf("%s: container port %s is %s, the services speak TCP", s, p.Name, p.Protocol))
			}
		}
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// containerPort resolves a probe's or Service's port (a name or a number) to a declared
// container port of c.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, error) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %s is no container port of %s", p.String(), c.Name)
}

// checkProbes: every service that listens has a readiness probe on its readiness endpoint
// (/readyz; Envoy's /ready), and every probe's port is a container port whose listener serves
// the probe's path.
func checkProbes(a *analysis) []error {
	var errs []error
	for _, s := range a.services {
		if s.c.ReadinessProbe == nil && len(s.c.Ports) > 0 {
			errs = append(errs, fmt.Errorf("%s: no readiness probe: it would get traffic while starting and draining", s))
		}
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
		}{{"readiness", s.c.ReadinessProbe}, {"liveness", s.c.LivenessProbe}, {"startup", s.c.StartupProbe}} {
			if p.probe == nil {
				continue
			}
			h := p.probe.ProbeHandler
			var port intstr.IntOrString
			switch {
			case h.HTTPGet != nil:
				port = h.HTTPGet.Port
			case h.TCPSocket != nil:
				port = h.TCPSocket.Port
			case h.GRPC != nil:
				port = intstr.FromInt32(h.GRPC.Port)
			default:
				if p.name == "readiness" {
					errs = append(errs, fmt.Errorf("%s: the readiness probe is not an HTTP GET of the readiness endpoint", s))
				}
				continue
			}
			n, err := containerPort(s.c, port)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s probe: %w", s, p.name, err))
				continue
			}
			l := s.listenerOn(n)
			if l == nil {
				errs = append(errs, fmt.Errorf("%s: %s probe: nothing listens on port %d", s, p.name, n))
				continue
			}
			switch {
			case p.name == "readiness" && (h.HTTPGet == nil || l.ready == "" || h.HTTPGet.Path != l.ready):
				errs = append(errs, fmt.Errorf("%s: the readiness probe must GET %s's readiness endpoint %q, not %s", s, l, l.ready, describeHandler(h)))
			case h.HTTPGet != nil && !slices.Contains(l.paths, h.HTTPGet.Path):
				errs = append(errs, fmt.Errorf("%s: %s probe: %s does not serve %q (it serves %q)", s, p.name, l, h.HTTPGet.Path, l.paths))
			}
		}
	}
	return errs
}

func describeHandler(h corev1.ProbeHandler) string {
	switch {
	case h.HTTPGet != nil:
		return fmt.Sprintf("GET %s", h.HTTPGet.Path)
	case h.TCPSocket != nil:
		return "a TCP connect"
	case h.GRPC != nil:
		return "a gRPC health check"
	}
	return "an exec"
}

// selected returns the workloads of namespace ns whose pods sel selects.
func (m *manifest) selected(ns string, sel labels.Selector) []*workload {
	var out []*workload
	for _, w := range m.workloads() {
		if w.namespace == ns && sel.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// checkEndpoints: every Service selects the pods of at least one workload, and each of its
// ports' targetPort is a container port of every pod it selects.
func checkEndpoints(a *analysis) []error {
	var errs []error
	for _, svc := range typed[*corev1.Service](a.m) {
		id := "Service " + svc.Namespace + "/" + svc.Name
		if len(svc.Spec.Selector) == 0 {
			errs = append(errs, fmt.Errorf("%s: no selector", id))
			continue
		}
		ws := a.m.selected(svc.Namespace, labels.SelectorFromSet(svc.Spec.Selector))
		if len(ws) == 0 {
			errs = append(errs, fmt.Errorf("%s: selector %v selects no pod", id, svc.Spec.Selector))
		}
		for _, sp := range svc.Spec.Ports {
			for _, w := range ws {
				if _, _, err := targetOf(w, sp); err != nil {
					errs = append(errs, fmt.Errorf("%s port %s: %s: %w", id, sp.Name, w, err))
				}
			}
		}
	}
	return errs
}

// targetOf returns the container of w and the container port that a Service port's targetPort
// resolves to.
func targetOf(w *workload, sp corev1.ServicePort) (*corev1.Container, int32, error) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int && tp.IntVal == 0 {
		tp = intstr.FromInt32(sp.Port)
	}
	for i := range w.template.Spec.Containers {
		c := &w.template.Spec.Containers[i]
		if n, err := containerPort(c, tp); err == nil {
			return c, n, nil
		}
	}
	return nil, 0, fmt.Errorf("targetPort %s is no container port of its pods", tp.String())
}

// checkReferences: every ConfigMap and Secret a pod names (volumes with their items, env
// valueFrom, envFrom) exists in the pod's namespace with the keys named; every volume mount
// names a volume; every namespaced object is in the one namespace the render creates.
func checkReferences(a *analysis) []error {
	var errs []error
	nss := typed[*corev1.Namespace](a.m)
	if len(nss) != 1 {
		errs = append(errs, fmt.Errorf("the render creates %d namespaces, want 1", len(nss)))
	} else {
		for _, o := range a.m.objects {
			if o.kind != "Namespace" && o.namespace != nss[0].Name {
				errs = append(errs, fmt.Errorf("%s: in namespace %q, not %q: references from the other objects do not reach it", o, o.namespace, nss[0].Name))
			}
		}
	}
	ref := func(w *workload, what, kind, name string, optional *bool, keys ...string) {
		if optional != nil && *optional {
			return
		}
		for _, k := range keys {
			if _, err := a.m.keyData(w.namespace, kind, name, k); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", w, what, err))
			}
		}
		if len(keys) == 0 && a.m.get(kind, w.namespace, name) == nil {
			errs = append(errs, fmt.Errorf("%s: %s: %s %s does not exist in namespace %q", w, what, kind, name, w.namespace))
		}
	}
	itemKeys := func(items []corev1.KeyToPath) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.Key)
		}
		return out
	}
	for _, w := range a.m.workloads() {
		spec := &w.template.Spec
		vols := map[string]bool{}
		for _, c := range w.claims {
			vols[c.Name] = true
		}
		for _, v := range spec.Volumes {
			vols[v.Name] = true
			what := "volume " + v.Name
			switch {
			case v.ConfigMap != nil:
				ref(w, what, "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Optional, itemKeys(v.ConfigMap.Items)...)
			case v.Secret != nil:
				ref(w, what, "Secret", v.Secret.SecretName, v.Secret.Optional, itemKeys(v.Secret.Items)...)
			case v.Projected != nil:
				for _, ps := range v.Projected.Sources {
					if ps.ConfigMap != nil {
						ref(w, what, "ConfigMap", ps.ConfigMap.Name, ps.ConfigMap.Optional, itemKeys(ps.ConfigMap.Items)...)
					}
					if ps.Secret != nil {
						ref(w, what, "Secret", ps.Secret.Name, ps.Secret.Optional, itemKeys(ps.Secret.Items)...)
					}
				}
			}
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			for _, e := range c.Env {
				what := "container " + c.Name + " env " + e.Name
				switch {
				case e.ValueFrom == nil:
				case e.ValueFrom.ConfigMapKeyRef != nil:
					r := e.ValueFrom.ConfigMapKeyRef
					ref(w, what, "ConfigMap", r.Name, r.Optional, r.Key)
				case e.ValueFrom.SecretKeyRef != nil:
					r := e.ValueFrom.SecretKeyRef
					ref(w, what, "Secret", r.Name, r.Optional, r.Key)
				}
			}
			for _, e := range c.EnvFrom {
				what := "container " + c.Name + " envFrom"
				if e.ConfigMapRef != nil {
					ref(w, what, "ConfigMap", e.ConfigMapRef.Name, e.ConfigMapRef.Optional)
				}
				if e.SecretRef != nil {
					ref(w, what, "Secret", e.SecretRef.Name, e.SecretRef.Optional)
				}
			}
			for _, vm := range c.VolumeMounts {
				if !vols[vm.Name] {
					errs = append(errs, fmt.Errorf("%s: container %s mounts volume %s, which the pod does not declare", w, c.Name, vm.Name))
				}
			}
		}
	}
	return errs
}

// checkMemory: every container requests CPU and memory and has a memory limit, above the
// bound its service's configuration sets (see the margins above), and the edge's bounds fit
// together.
func checkMemory(a *analysis) []error {
	var errs []error
	for _, s := range a.services {
		r := s.c.Resources
		req, lim := r.Requests[corev1.ResourceMemory], r.Limits[corev1.ResourceMemory]
		if r.Requests.Cpu().IsZero() || req.IsZero() {
			errs = append(errs, fmt.Errorf("%s: requests no CPU or no memory: the scheduler and the autoscaler need both", s))
		}
		if lim.IsZero() {
			errs = append(errs, fmt.Errorf("%s: no memory limit", s))
			continue
		}
		if req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s: requests %s of memory, above its limit %s", s, req.String(), lim.String()))
		}
		if s.cfg == nil {
			continue
		}
		need, why, err := a.memoryBound(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		if lim.Value() <= need {
			errs = append(errs, fmt.Errorf("%s: memory limit %s (%d MiB) is not above %d MiB = %s", s, lim.String(), lim.Value()/mib, need/mib, why))
		}
	}
	return errs
}

// memoryBound returns the memory the configuration of s lets it use, and how it is made up;
// 0 for a service whose configuration bounds no memory (the control plane).
func (a *analysis) memoryBound(s *service) (int64, string, error) {
	switch cfg := s.cfg.(type) {
	case *normalizer.ServiceConfig:
		b := cfg.Normalizer.MaxInflightBytes
		return goServiceBase + 2*normalizerLiveMult*b, fmt.Sprintf("96 MiB + 2 × %d × normalizer.max_inflight_bytes %d MiB", normalizerLiveMult, b/mib), nil
	case *sinkwriter.ServiceConfig:
		b := cfg.Writer.MaxBufferBytes
		if b == 0 {
			b = sinkwriter.DefaultConfig().MaxBufferBytes
		}
		return goServiceBase + 2*sinkWriterLiveMult*b, fmt.Sprintf("96 MiB + 2 × %d × writer.max_buffer_bytes %d MiB", sinkWriterLiveMult, b/mib), nil
	case *loader.ServiceConfig:
		limit, what := cfg.Loader.MemoryLimit, "loader.memory_limit"
		if v, ok := envValue(s.c, "GOMEMLIMIT"); ok { // wins over memory_limit
			n, err := parseGoMemLimit(v)
			if err != nil {
				return 0, "", err
			}
			limit, what = n, "GOMEMLIMIT"
		}
		if limit < 0 {
			return 0, "", errors.New("loader.memory_limit -1: no Go memory limit, so the loader's memory is bounded by nothing")
		}
		return limit + loaderLimitSlack, fmt.Sprintf("%s %d MiB + 32 MiB", what, limit/mib), nil
	case *bootstrap.Bootstrap:
		return a.envoyMemoryBound(s, cfg)
	case *controlplane.Config:
		return 0, "no configured bound", nil
	}
	return 0, "", fmt.Errorf("no memory bound known for %T", s.cfg)
}

// envoyMemoryBound returns Envoy's heap bound + the filter's GOMEMLIMIT + envoyOverhead, and
// checks the filter's in-flight bound (the control plane's xds.edge.max_in_flight_bytes: the
// request bodies Envoy buffers in its heap) against them: below the first overload action on
// the heap, so that the filter answers 503 before Envoy starts shedding or resetting streams,
// and within GOMEMLIMIT, which the filter's copies of the bodies count against.
func (a *analysis) envoyMemoryBound(s *service, bs *bootstrap.Bootstrap) (int64, string, error) {
	var heap int64
	for _, rm := range bs.GetOverloadManager().GetResourceMonitors() {
		fh := &fixedheap.FixedHeapConfig{}
		if rm.GetName() == "envoy.resource_monitors.fixed_heap" && rm.GetTypedConfig().UnmarshalTo(fh) == nil {
			heap = int64(fh.GetMaxHeapSizeBytes())
		}
	}
	if heap == 0 {
		return 0, "", errors.New("the bootstrap has no fixed_heap resource monitor: Envoy's heap is bounded by nothing")
	}
	first := 1.0 // the lowest fraction of the heap at which an overload action starts
	for _, act := range bs.GetOverloadManager().GetActions() {
		for _, tr := range act.GetTriggers() {
			if tr.GetName() != "envoy.resource_monitors.fixed_heap" {
				continue
			}
			if t := tr.GetThreshold(); t != nil {
				first = math.Min(first, t.GetValue())
			}
			if t := tr.GetScaled(); t != nil {
				first = math.Min(first, t.GetScalingThreshold())
			}
		}
	}
	v, ok := envValue(s.c, "GOMEMLIMIT")
	if !ok {
		return 0, "", errors.New("no GOMEMLIMIT: the Go filter's heap, which Envoy's overload manager does not see, is bounded by nothing")
	}
	gomem, err := parseGoMemLimit(v)
	if err != nil {
		return 0, "", err
	}
	var errs []error
	for _, cp := range a.find(kindControlPlane, s.w.namespace) {
		c, ok := cp.cfg.(*controlplane.Config)
		if !ok {
			continue
		}
		inflight := c.XDS.WithDefaults().Edge.MaxInFlightBytes
		if float64(inflight) > first*float64(heap) {
			errs = append(errs, fmt.Errorf("%s's xds.edge.max_in_flight_bytes %d MiB is above %.0f%% of max_heap_size_bytes %d MiB, where Envoy's first overload action starts: raise the heap or lower the bound",
				cp.w.name, inflight/mib, first*100, heap/mib))
		}
		if inflight > gomem {
			errs = append(errs, fmt.Errorf("%s's xds.edge.max_in_flight_bytes %d MiB is above GOMEMLIMIT %d MiB, which the filter's copies of the bodies count against", cp.w.name, inflight/mib, gomem/mib))
		}
	}
	return heap + gomem + envoyOverhead, fmt.Sprintf("max_heap_size_bytes %d MiB + GOMEMLIMIT %d MiB + 128 MiB", heap/mib, gomem/mib), errors.Join(errs...)
}

// parseGoMemLimit parses a GOMEMLIMIT value: bytes, with an optional B, KiB, MiB, GiB or TiB.
func parseGoMemLimit(v string) (int64, error) {
	m := regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Errorf("GOMEMLIMIT %q is not a byte count (e.g. 512MiB)", v)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GOMEMLIMIT %q: %w", v, err)
	}
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	return n << shift, nil
}

// checkScaling: every HorizontalPodAutoscaler targets a workload that leaves its replica
// count to it and requests the resource it scales on; every PodDisruptionBudget selects a
// workload and lets at least one of its pods be evicted; every Deployment has one; every
// topology spread constraint and anti-affinity term selects its own pods.
func checkScaling(a *analysis) []error {
	var errs []error
	hpaMin := map[any]int32{} // by workload object
	ws := a.m.workloads()
	for _, h := range typed[*autoscalingv2.HorizontalPodAutoscaler](a.m) {
		id := "HorizontalPodAutoscaler " + h.Namespace + "/" + h.Name
		ref := h.Spec.ScaleTargetRef
		i := slices.IndexFunc(ws, func(w *workload) bool {
			return w.namespace == h.Namespace && w.kind == ref.Kind && w.name == ref.Name && ref.APIVersion == "apps/v1"
		})
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: scaleTargetRef %s %s %s is no workload of the render", id, ref.APIVersion, ref.Kind, ref.Name))
			continue
		}
		w := ws[i]
		lo := int32(1)
		if h.Spec.MinReplicas != nil {
			lo = *h.Spec.MinReplicas
		}
		hpaMin[w.obj] = lo
		if lo < 1 || h.Spec.MaxReplicas < lo {
			errs = append(errs, fmt.Errorf("%s: replicas %d to %d", id, lo, h.Spec.MaxReplicas))
		}
		if w.replicas != nil {
			errs = append(errs, fmt.Errorf("%s: %s sets replicas %d, which the autoscaler owns: every apply would reset it", id, w, *w.replicas))
		}
		for _, mt := range h.Spec.Metrics {
			if mt.Resource == nil {
				continue
			}
			for _, c := range w.template.Spec.Containers {
				if q := c.Resources.Requests[mt.Resource.Name]; q.IsZero() {
					errs = append(errs, fmt.Errorf("%s: scales on %s, which container %s of %s does not request", id, mt.Resource.Name, c.Name, w))
				}
			}
		}
	}
	covered := map[any]bool{} // by workload object
	for _, p := range typed[*policyv1.PodDisruptionBudget](a.m) {
		id := "PodDisruptionBudget " + p.Namespace + "/" + p.Name
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			errs = append(errs, fmt.Errorf("%s: selector %v: %v", id, p.Spec.Selector, err))
			continue
		}
		matched := a.m.selected(p.Namespace, sel)
		if len(matched) == 0 {
			errs = append(errs, fmt.Errorf("%s: selector %v selects no pod", id, p.Spec.Selector))
		}
		for _, w := range matched {
			covered[w.obj] = true
			n := int32(1)
			if w.replicas != nil {
				n = *w.replicas
			}
			if lo, ok := hpaMin[w.obj]; ok {
				n = lo
			}
			if d := allowedDisruptions(p, n); d < 1 {
				errs = append(errs, fmt.Errorf("%s: allows %d evictions of %s's %d pods: it blocks every eviction, and node drains hang", id, d, w, n))
			}
		}
	}
	for _, w := range ws {
		if w.kind == "Deployment" && !covered[w.obj] {
			errs = append(errs, fmt.Errorf("%s: no PodDisruptionBudget: a node drain may evict all its pods at once", w))
		}
		own := labels.Set(w.template.Labels)
		spec := &w.template.Spec
		var sels []*metav1.LabelSelector
		for _, tsc := range spec.TopologySpreadConstraints {
			sels = append(sels, tsc.LabelSelector)
		}
		if aa := affinityOf(spec).PodAntiAffinity; aa != nil {
			for _, t := range aa.RequiredDuringSchedulingIgnoredDuringExecution {
				sels = append(sels, t.LabelSelector)
			}
			for _, t := range aa.PreferredDuringSchedulingIgnoredDuringExecution {
				sels = append(sels, t.PodAffinityTerm.LabelSelector)
			}
		}
		for _, ls := range sels {
			sel, err := metav1.LabelSelectorAsSelector(ls)
			if err != nil || ls == nil || !sel.Matches(own) {
				errs = append(errs, fmt.Errorf("%s: a topology spread or anti-affinity selector %v does not select its own pods: it spreads nothing", w, ls))
			}
		}
	}
	return errs
}

func affinityOf(spec *corev1.PodSpec) *corev1.Affinity {
	if spec.Affinity == nil {
		return &corev1.Affinity{}
	}
	return spec.Affinity
}

// allowedDisruptions returns how many of n pods p lets be evicted at once (as the disruption
// controller computes it: maxUnavailable percentages round up, minAvailable ones too).
func allowedDisruptions(p *policyv1.PodDisruptionBudget, n int32) int32 {
	pct := func(v intstr.IntOrString) int32 {
		if v.Type == intstr.Int {
			return v.IntVal
		}
		f, _ := strconv.ParseFloat(strings.TrimSuffix(v.StrVal, "%"), 64)
		return int32(math.Ceil(f * float64(n) / 100))
	}
	switch {
	case p.Spec.MaxUnavailable != nil:
		return pct(*p.Spec.MaxUnavailable)
	case p.Spec.MinAvailable != nil:
		return n - pct(*p.Spec.MinAvailable)
	}
	return 0
}

// checkGrace: a pod's terminationGracePeriodSeconds is longer than its preStop hook plus its
// service's drain (the configured shutdown timeout; Envoy's --drain-time-s), so that the
// kubelet's SIGKILL never cuts a drain short; services that get traffic have a preStop hook.
func checkGrace(a *analysis) []error {
	var errs []error
	for _, s := range a.services {
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if g := s.w.template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		var pre time.Duration
		var hook *corev1.LifecycleHandler
		if s.c.Lifecycle != nil {
			hook = s.c.Lifecycle.PreStop
		}
		switch {
		case hook == nil && s.kind == kindEnvoy:
			errs = append(errs, fmt.Errorf("%s: no preStop hook: Envoy closes its listeners at once on SIGTERM, cutting every request in progress", s))
		case hook == nil && s.traffic:
			errs = append(errs, fmt.Errorf("%s: no preStop hook: it would stop taking requests before it leaves its Service's endpoints", s))
		case hook != nil && hook.Sleep != nil:
			pre = time.Duration(hook.Sleep.Seconds) * time.Second
		}
		if need := pre + s.drain; time.Duration(grace)*time.Second <= need {
			errs = append(errs, fmt.Errorf("%s: terminationGracePeriodSeconds %d is not above the preStop %v + the drain %v: SIGKILL would cut the drain", s, grace, pre, s.drain))
		}
	}
	return errs
}

// checkScrape: every pod carries prometheus.io/scrape "true", prometheus.io/port (a container
// port) and prometheus.io/path, which the listener on that port serves as its metrics.
func checkScrape(a *analysis) []error {
	var errs []error
	for _, w := range a.m.workloads() {
		ann := w.template.Annotations
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] == "" || ann["prometheus.io/path"] == "" {
			errs = append(errs, fmt.Errorf("%s: prometheus.io/scrape \"true\", prometheus.io/port and prometheus.io/path are not all set: %v", w, ann))
			continue
		}
		port, err := strconv.ParseInt(ann["prometheus.io/port"], 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: prometheus.io/port %q is not a number", w, ann["prometheus.io/port"]))
			continue
		}
		var l *listener
		for _, s := range a.services {
			if s.w.obj == w.obj && slices.ContainsFunc(s.c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == int32(port) }) {
				l = s.listenerOn(int32(port))
			}
		}
		switch {
		case l == nil:
			errs = append(errs, fmt.Errorf("%s: prometheus.io/port %d is not a container port of a service", w, port))
		case l.metrics != ann["prometheus.io/path"]:
			errs = append(errs, fmt.Errorf("%s: prometheus.io/path %q: %s serves its metrics at %q", w, ann["prometheus.io/path"], l, l.metrics))
		}
	}
	return errs
}

// checkSingleton: the control plane is one StatefulSet pod with its registry (a bbolt file,
// one writer) on the StatefulSet's persistent volume, and nothing scales it.
func checkSingleton(a *analysis) []error {
	var errs []error
	cps := a.find(kindControlPlane, "")
	if len(cps) > 1 {
		errs = append(errs, fmt.Errorf("%d containers run the control plane: its registry is a bbolt file, one writer", len(cps)))
	}
	for _, s := range cps {
		if s.w.kind != "StatefulSet" || s.w.replicas == nil || *s.w.replicas != 1 {
			errs = append(errs, fmt.Errorf("%s: the control plane must be a StatefulSet of exactly one replica (its registry is a bbolt file, one writer)", s))
		}
		if c, ok := s.cfg.(*controlplane.Config); ok {
			src, err := a.m.fileSource(s.w, s.c, c.Registry.Path)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: registry.path: %w", s, err))
			case src.kind != "PersistentVolumeClaim":
				errs = append(errs, fmt.Errorf("%s: registry.path %s is on %s, not on a persistent volume: the registry would be lost with the pod", s, c.Registry.Path, src))
			}
		}
		for _, h := range typed[*autoscalingv2.HorizontalPodAutoscaler](a.m) {
			if h.Namespace == s.w.namespace && h.Spec.ScaleTargetRef.Name == s.w.name {
				errs = append(errs, fmt.Errorf("%s: HorizontalPodAutoscaler %s scales the control plane", s, h.Name))
			}
		}
	}
	return errs
}

// resolveAddr returns the listeners that host:port reaches from namespace ns: host must name
// a Service of the render (name, name.ns, name.ns.svc or name.ns.svc.cluster.local), port one
// of its ports, and its targetPort a listener of the pods it selects.
func (a *analysis) resolveAddr(ns, host string, port int32) ([]*service, []*listener, error) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	name := parts[0]
	switch {
	case len(parts) == 1:
	case len(parts) == 2, len(parts) == 3 && parts[2] == "svc", len(parts) == 5 && strings.Join(parts[2:], ".") == "svc.cluster.local":
		ns = parts[1]
	default:
		return nil, nil, fmt.Errorf("%s is not the name of a Service (name, name.namespace[.svc[.cluster.local]])", host)
	}
	svc, ok := a.m.get("Service", ns, name).(*corev1.Service)
	if !ok {
		return nil, nil, fmt.Errorf("%s: no Service %s in namespace %q", host, name, ns)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
	if i < 0 {
		return nil, nil, fmt.Errorf("%s: Service %s has no port %d", host, name, port)
	}
	var ss []*service
	var ls []*listener
	for _, w := range a.m.selected(ns, labels.SelectorFromSet(svc.Spec.Selector)) {
		c, n, err := targetOf(w, svc.Spec.Ports[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %s: %w", host, port, w, err)
		}
		for _, s := range a.services {
			if s.c == c {
				if l := s.listenerOn(n); l != nil {
					ss, ls = append(ss, s), append(ls, l)
				}
			}
		}
	}
	if len(ls) == 0 {
		return nil, nil, fmt.Errorf("%s:%d: Service %s reaches no listener", host, port, name)
	}
	return ss, ls, nil
}

// expectAddr checks that host:port, as s dials it, reaches the listener key of a kind service.
func (a *analysis) expectAddr(s *service, what, host string, port int32, kind, key string) error {
	ss, ls, err := a.resolveAddr(s.w.namespace, host, port)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", s, what, err)
	}
	for i := range ss {
		if ss[i].kind != kind || ls[i].key != key {
			return fmt.Errorf("%s: %s %s:%d reaches %s's %s, not the %s's %s", s, what, host, port, ss[i].kind, ls[i], kind, key)
		}
	}
	return nil
}

// expectURL is expectAddr for an http(s) URL.
func (a *analysis) expectURL(s *service, what, raw, kind, key string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%s: %s %q is not a URL with a host", s, what, raw)
	}
	p := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	if u.Port() != "" {
		p = u.Port()
	}
	port, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		return fmt.Errorf("%s: %s %q has no port", s, what, raw)
	}
	return a.expectAddr(s, what, u.Hostname(), int32(port), kind, key)
}

// checkWiring: what each service dials reaches the right listener through a Service (the
// normalizers' sink writer URL, every report and tenant-list URL, the edges' xDS cluster with
// a SAN and SNI naming it); the edges' node cluster is the control plane's; the filter's .so
// is where the control plane tells Envoy to load it; the services agree on topics, brokers,
// ClickHouse (addresses, database and cluster), the hop key and the report token.
func checkWiring(a *analysis) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	const cpAdmin = "admin.listen_address"
	sources := map[string][]string{} // "hop key" / "report token" → the sources, as "who: source"
	share := func(what string, s *service, file string) {
		if file == "" {
			return
		}
		src, err := a.m.fileSource(s.w, s.c, file)
		if err == nil {
			sources[what] = append(sources[what], s.kind+": "+src.String())
		}
	}
	topicPatterns, brokers, clickhouses := map[string]string{}, map[string]string{}, map[string]string{}
	var loaders []*loader.ServiceConfig
	for _, s := range a.services {
		switch c := s.cfg.(type) {
		case *normalizer.ServiceConfig:
			if c.Sink == normalizer.SinkWriter {
				add(a.expectURL(s, "sink_writer.url", c.SinkWriter.URL, kindSinkWriter, "listen"))
			}
			if c.Report.URL != "" {
				add(a.expectURL(s, "report.url", c.Report.URL, kindControlPlane, cpAdmin))
			}
			share("hop key", s, c.HopAuth.KeyFile)
			share("report token", s, c.Report.TokenFile)
		case *sinkwriter.ServiceConfig:
			if !c.Tenants.AllowAnyTenant {
				add(a.expectURL(s, "tenants.url", c.Tenants.URL, kindControlPlane, cpAdmin))
			}
			share("hop key", s, c.HopAuth.KeyFile)
			share("report token", s, c.Tenants.TokenFile)
			topicPatterns["sinkwriter writer.topic_pattern"] = c.Writer.TopicPattern
			brokers["sinkwriter writer.brokers"] = strings.Join(slices.Sorted(slices.Values(c.Writer.Brokers)), ",")
		case *loader.ServiceConfig:
			if c.Loader.Report.URL != "" {
				add(a.expectURL(s, "loader.report.url", c.Loader.Report.URL, kindControlPlane, cpAdmin))
			}
			share("report token", s, c.Loader.Report.TokenFile)
			brokers["loader loader.brokers"] = strings.Join(slices.Sorted(slices.Values(c.Loader.Brokers)), ",")
			clickhouses["loader loader.clickhouse_addr and database, and clickhouse_cluster"] = strings.Join(slices.Sorted(slices.Values(c.Loader.ClickHouseAddr)), ",") +
				" " + c.Loader.Database + " cluster=" + c.Loader.ClickHouseCluster
			loaders = append(loaders, c)
		case *controlplane.Config:
			if c.XDS.Report.URL != "" {
				add(a.expectURL(s, "xds.report.url", c.XDS.Report.URL, kindControlPlane, cpAdmin))
			}
			share("hop key", s, c.XDS.HopKeyFile)
			share("report token", s, c.Admin.ReportTokenFile)
			share("report token", s, c.XDS.Report.TokenFile)
			if c.Replay.Enabled() {
				topicPatterns["controlplane replay.topic_pattern"] = c.Replay.TopicPattern
				brokers["controlplane replay.brokers"] = strings.Join(slices.Sorted(slices.Values(c.Replay.Brokers)), ",")
				for _, l := range loaders {
					if c.Replay.DeadLetterTopic != l.Loader.DeadLetterTopic {
						add(fmt.Errorf("%s: replay.deadletter_topic %q is not the loaders' loader.dead_letter_topic %q", s, c.Replay.DeadLetterTopic, l.Loader.DeadLetterTopic))
					}
				}
			}
			if len(c.ClickHouse.Addr) > 0 {
				clickhouses["controlplane clickhouse.addr and database, and clickhouse.cluster"] = strings.Join(slices.Sorted(slices.Values(c.ClickHouse.Addr)), ",") +
					" " + c.ClickHouse.Database + " cluster=" + c.ClickHouse.Cluster
			}
			add(checkFilterLibrary(a, s, c))
		case *bootstrap.Bootstrap:
			errs = append(errs, checkEdgeBootstrap(a, s, c)...)
		}
	}
	for what, srcs := range sources {
		if len(slices.Compact(slices.Sorted(slices.Values(trimWho(srcs))))) > 1 {
			errs = append(errs, fmt.Errorf("the services read the %s from different places, so they do not share it: %s", what, strings.Join(srcs, "; ")))
		}
	}
	for _, m := range []map[string]string{topicPatterns, brokers, clickhouses} {
		if len(slices.Compact(slices.Sorted(maps.Values(m)))) > 1 {
			errs = append(errs, fmt.Errorf("the services disagree: %v", m))
		}
	}
	for _, l := range loaders {
		re, err := regexp.Compile(l.Loader.TopicRegex)
		if err != nil {
			continue
		}
		if p, ok := topicPatterns["sinkwriter writer.topic_pattern"]; ok && !re.MatchString(strings.ReplaceAll(p, "{tenant}", "acme")) {
			errs = append(errs, fmt.Errorf("the loaders' loader.topic_regex %q does not match the sink writers' topic of tenant acme, %q", l.Loader.TopicRegex, strings.ReplaceAll(p, "{tenant}", "acme")))
		}
	}
	return errs
}

func trimWho(srcs []string) []string {
	var out []string
	for _, s := range srcs {
		_, src, _ := strings.Cut(s, ": ")
		out = append(out, src)
	}
	return out
}

// checkFilterLibrary: the control plane's xds.filter_library_path is where envoy.Dockerfile
// puts the filter's .so, and no volume of an edge hides it.
func checkFilterLibrary(a *analysis, s *service, c *controlplane.Config) error {
	b, err := os.ReadFile("../docker/envoy.Dockerfile")
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?m)^COPY\s.*ingest-edge\.so\s+(\S+)\s*$`).FindSubmatch(b)
	if m == nil {
		return errors.New("deploy/docker/envoy.Dockerfile copies no ingest-edge.so")
	}
	lib := c.XDS.WithDefaults().FilterLibraryPath
	if lib != string(m[1]) {
		return fmt.Errorf("%s: xds.filter_library_path %s is not where deploy/docker/envoy.Dockerfile puts the filter, %s", s, lib, m[1])
	}
	var errs []error
	for _, e := range a.find(kindEnvoy, s.w.namespace) {
		for _, vm := range e.c.VolumeMounts {
			if mp := path.Clean(vm.MountPath); lib == mp || strings.HasPrefix(lib, mp+"/") {
				errs = append(errs, fmt.Errorf("%s: volume %s mounted at %s hides the image's %s", e, vm.Name, vm.MountPath, lib))
			}
		}
	}
	return errors.Join(errs...)
}

// checkEdgeBootstrap: the edge's ADS cluster reaches the control plane's xDS listener through
// its Service, over TLS whose SAN matcher (and SNI) name the address dialled; the node
// cluster is the control plane's xds.node_cluster and Envoy's --service-cluster.
func checkEdgeBootstrap(a *analysis, s *service, bs *bootstrap.Bootstrap) []error {
	var errs []error
	gs := bs.GetDynamicResources().GetAdsConfig().GetGrpcServices()
	if len(gs) != 1 || gs[0].GetEnvoyGrpc().GetClusterName() == "" {
		return []error{fmt.Errorf("%s: the bootstrap's ADS is not one envoy_grpc cluster", s)}
	}
	name := gs[0].GetEnvoyGrpc().GetClusterName()
	i := slices.IndexFunc(bs.GetStaticResources().GetClusters(), func(c *clusterv3.Cluster) bool { return c.GetName() == name })
	if i < 0 {
		return []error{fmt.Errorf("%s: the ADS cluster %s is not a static cluster", s, name)}
	}
	cl := bs.GetStaticResources().GetClusters()[i]
	tc := &tlsv3.UpstreamTlsContext{}
	if err := cl.GetTransportSocket().GetTypedConfig().UnmarshalTo(tc); err != nil {
		errs = append(errs, fmt.Errorf("%s: the ADS cluster %s has no UpstreamTlsContext: the xDS stream carries every key hash and the edge's private key", s, name))
	}
	var sans []string
	for _, m := range tc.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames() {
		sans = append(sans, m.GetMatcher().GetExact())
	}
	for _, e := range cl.GetLoadAssignment().GetEndpoints() {
		for _, lb := range e.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			host, port := sa.GetAddress(), int32(sa.GetPortValue())
			if err := a.expectAddr(s, "the ADS cluster "+name, host, port, kindControlPlane, "xds.listen_address"); err != nil {
				errs = append(errs, err)
			}
			if !slices.Contains(sans, host) {
				errs = append(errs, fmt.Errorf("%s: the ADS cluster dials %s but its SAN matcher accepts %q: the control plane's certificate would be refused, or one for another name accepted", s, host, sans))
			}
			if sni := tc.GetSni(); sni != "" && sni != host {
				errs = append(errs, fmt.Errorf("%s: the ADS cluster dials %s with SNI %s", s, host, sni))
			}
		}
	}
	cluster := bs.GetNode().GetCluster()
	args := expandEnv(s.c)
	if j := slices.Index(args, "--service-cluster"); j >= 0 && j+1 < len(args) {
		cluster = args[j+1]
		if bs.GetNode().GetCluster() != "" && bs.GetNode().GetCluster() != cluster {
			errs = append(errs, fmt.Errorf("%s: --service-cluster %s overrides the bootstrap's node.cluster %s", s, cluster, bs.GetNode().GetCluster()))
		}
	}
	for _, cp := range a.find(kindControlPlane, s.w.namespace) {
		if c, ok := cp.cfg.(*controlplane.Config); ok && c.XDS.NodeCluster != "" && c.XDS.NodeCluster != cluster {
			errs = append(errs, fmt.Errorf("%s: node cluster %q is not the control plane's xds.node_cluster %q: the control plane closes its stream", s, cluster, c.XDS.NodeCluster))
		}
	}
	return errs
}

// checkImages: every container's image is tagged (not latest), and both images have the same
// tag (they are built from one commit).
func checkImages(a *analysis) []error {
	var errs []error
	tags := map[string]bool{}
	for _, s := range a.services {
		_, tag := splitImage(s.c.Image)
		if tag == "" || tag == "latest" {
			errs = append(errs, fmt.Errorf("%s: image %s has no fixed tag", s, s.c.Image))
		}
		tags[tag] = true
	}
	if len(tags) > 1 {
		errs = append(errs, fmt.Errorf("the images have different tags %v: both are built from one commit", slices.Sorted(maps.Keys(tags))))
	}
	return errs
}

// checkPlaceholders: every Secret in the repository holds only placeholders (REPLACE-ME),
// which the services refuse: no real secret is committed, and none is deployed by mistake.
func checkPlaceholders(a *analysis) []error {
	var errs []error
	for _, sec := range typed[*corev1.Secret](a.m) {
		for k, v := range sec.Data {
			if !strings.Contains(string(v), "REPLACE-ME") {
				errs = append(errs, fmt.Errorf("Secret %s/%s key %s is not a REPLACE-ME placeholder: secrets are not committed", sec.Namespace, sec.Name, k))
			}
		}
	}
	return errs
}
