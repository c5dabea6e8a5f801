package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	// Every type the edge bootstrap packs in an Any, so that protojson can decode it.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/ingestdev/ingest/controlplane"
	"github.com/ingestdev/ingest/internal/config"
	"github.com/ingestdev/ingest/normalizer"
	"github.com/ingestdev/ingest/sinkwriter"
	"github.com/ingestdev/ingest/sinkwriter/loader"
)

// What a container runs.
const (
	kindNormalizer   = "normalizer"
	kindSinkWriter   = "sinkwriter"
	kindLoader       = "loader"
	kindControlPlane = "controlplane"
	kindEnvoy        = "envoy"
)

// The images (deploy/docker): every ingest subcommand, and Envoy with the edge filter.
const (
	ingestImage      = "ghcr.io/ingestdev/ingest"
	envoyImage       = "ghcr.io/ingestdev/ingest-envoy"
	ingestEntrypoint = "/usr/local/bin/ingest" // ingest.Dockerfile's ENTRYPOINT
	envoyBinary      = "/usr/local/bin/envoy"  // in Envoy's images
)

// The paths every ingest service serves on its listener (internal/service).
var ingestPaths = []string{"/healthz", "/readyz", "/metrics"}

// The admin endpoints of Envoy a probe or a scrape may use.
var envoyAdminPaths = []string{"/ready", "/stats", "/stats/prometheus", "/server_info", "/clusters", "/listeners", "/config_dump", "/memory", "/runtime", "/certs"}

// listener is an address a service binds, as its configuration says.
type listener struct {
	key      string   // what sets it: a config key, e.g. "listen", "admin.listen_address"
	host     string   // as configured; "" binds every address
	port     int32    //
	paths    []string // HTTP paths served there; nil: no plain HTTP (gRPC, HTTPS)
	ready    string   // the readiness path served there, if any
	metrics  string   // the Prometheus path served there, if any
	internal bool     // reachable from inside the pod only, on purpose (Envoy's admin)
}

func (l listener) String() string {
	return fmt.Sprintf("%s %s", l.key, net.JoinHostPort(l.host, strconv.Itoa(int(l.port))))
}

// service is what one container runs: the service its image and arguments name, and its
// configuration file, decoded by the service's own config type.
type service struct {
	w          *workload
	c          *corev1.Container
	kind       string
	configPath string
	// cfg is the decoded configuration after defaults: *normalizer.ServiceConfig,
	// *sinkwriter.ServiceConfig, *loader.ServiceConfig, *controlplane.Config, or for Envoy its
	// *bootstrap.Bootstrap. Nil when it could not be decoded (reported by the services check).
	cfg       any
	listeners []listener
	// drain is the longest the service takes to stop after SIGTERM (its configured shutdown
	// timeout); for Envoy, its --drain-time-s, which its preStop hook waits out.
	drain time.Duration
	// traffic is set for services that get requests through a Service: they need a preStop
	// hook, so that they leave the Service's endpoints before they stop taking requests.
	traffic bool
	files   []fileRef // the files its configuration names
}

func (s *service) String() string { return fmt.Sprintf("%s container %s (%s)", s.w, s.c.Name, s.kind) }

// fileRef is a file a configuration names.
type fileRef struct{ key, path string }

// listener returns the listener of s whose key is key, or nil.
func (s *service) listener(key string) *listener {
	for i := range s.listeners {
		if s.listeners[i].key == key {
			return &s.listeners[i]
		}
	}
	return nil
}

// listenerOn returns the listener of s on port, or nil.
func (s *service) listenerOn(port int32) *listener {
	for i := range s.listeners {
		if s.listeners[i].port == port {
			return &s.listeners[i]
		}
	}
	return nil
}

// analysis is a rendered manifest and what each of its containers runs.
type analysis struct {
	m        *manifest
	services []*service
	errs     []error // containers that are not a service, or whose config does not decode
}

// analyze identifies every container of m and decodes its configuration.
func analyze(m *manifest) *analysis {
	a := &analysis{m: m}
	for _, w := range m.workloads() {
		spec := &w.template.Spec
		for _, c := range spec.InitContainers {
			a.errs = append(a.errs, fmt.Errorf("%s: init container %s: not expected (add it to the checks)", w, c.Name))
		}
		for i := range spec.Containers {
			s, err := a.identify(w, &spec.Containers[i])
			if err != nil {
				a.errs = append(a.errs, fmt.Errorf("%s container %s: %w", w, spec.Containers[i].Name, err))
			}
			if s != nil {
				a.services = append(a.services, s)
			}
		}
	}
	// Envoy's client listener comes from the control plane (xds.listener_address and
	// listener_port): add it to each edge of the same namespace.
	for _, e := range a.find(kindEnvoy, "") {
		for _, cp := range a.find(kindControlPlane, e.w.namespace) {
			if c, ok := cp.cfg.(*controlplane.Config); ok {
				e.listeners = append(e.listeners, listener{key: "xds.listener_port (" + cp.w.name + ")", host: c.XDS.ListenerAddress, port: int32(c.XDS.ListenerPort)})
			}
		}
	}
	return a
}

// find returns the services of kind (in namespace ns, unless empty).
func (a *analysis) find(kind, ns string) []*service {
	var out []*service
	for _, s := range a.services {
		if s.kind == kind && (ns == "" || s.w.namespace == ns) {
			out = append(out, s)
		}
	}
	return out
}

// splitImage splits an image reference into its name and tag ("" when it has none).
func splitImage(ref string) (name, tag string) {
	name, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// identify returns the service c runs, with its configuration decoded. It returns a service
// without configuration, and the error, when the configuration cannot be read.
func (a *analysis) identify(w *workload, c *corev1.Container) (*service, error) {
	name, _ := splitImage(c.Image)
	switch name {
	case ingestImage:
		if len(c.Command) > 0 && !slices.Equal(c.Command, []string{ingestEntrypoint}) {
			return nil, fmt.Errorf("command %q replaces the image's entrypoint %s", c.Command, ingestEntrypoint)
		}
		if len(c.Args) == 0 {
			return nil, errors.New("no subcommand in args")
		}
		s := &service{w: w, c: c, kind: c.Args[0]}
		describe, ok := ingestServices[s.kind]
		if !ok {
			return nil, fmt.Errorf("ingest %s: not a service these manifests run", s.kind)
		}
		p, err := configFlag(c.Args[1:], "config")
		if err != nil {
			return nil, err
		}
		s.configPath = p
		src, err := a.m.fileSource(w, c, p)
		if err != nil {
			return s, fmt.Errorf("--config %s: %w", p, err)
		}
		if err := describe(s, src.String(), src.data); err != nil {
			return s, err
		}
		s.files = configFiles(s.cfg)
		return s, nil
	case envoyImage:
		if len(c.Command) > 0 && !slices.Equal(c.Command, []string{envoyBinary}) {
			return nil, fmt.Errorf("command %q is not %s", c.Command, envoyBinary)
		}
		s := &service{w: w, c: c, kind: kindEnvoy, traffic: true, drain: 600 * time.Second} // Envoy's default --drain-time-s
		args := expandEnv(c)
		for i := 0; i < len(args); i++ {
			if (args[i] == "--config-path" || args[i] == "-c") && i+1 < len(args) {
				s.configPath = args[i+1]
			}
			if args[i] == "--drain-time-s" && i+1 < len(args) {
				n, err := strconv.Atoi(args[i+1])
				if err != nil {
					return s, fmt.Errorf("--drain-time-s %q is not a number of seconds", args[i+1])
				}
				s.drain = time.Duration(n) * time.Second
			}
		}
		if s.configPath == "" {
			return s, errors.New("no --config-path: Envoy would start without the bootstrap")
		}
		src, err := a.m.fileSource(w, c, s.configPath)
		if err != nil {
			return s, fmt.Errorf("--config-path %s: %w", s.configPath, err)
		}
		bs, err := decodeBootstrap(src.data)
		if err != nil {
			return s, fmt.Errorf("%s: %w", src, err)
		}
		s.cfg = bs
		s.listeners = envoyListeners(bs)
		s.files = bootstrapFiles(bs)
		return s, nil
	}
	return nil, fmt.Errorf("image %q is neither %s nor %s", c.Image, ingestImage, envoyImage)
}

// configFlag returns the value of the only flag in args, which must be name: every other
// setting belongs in the config file, where the checks see it.
func configFlag(args []string, name string) (string, error) {
	var val string
	for i := 0; i < len(args); i++ {
		n, v, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-"), "=")
		if n != name || !strings.HasPrefix(args[i], "-") {
			return "", fmt.Errorf("argument %q: only --%s is expected; put settings in the config file, where these checks see them", args[i], name)
		}
		if !hasValue {
			if i+1 >= len(args) {
				return "", fmt.Errorf("--%s without a value", name)
			}
			i++
			v = args[i]
		}
		val = v
	}
	if val == "" {
		return "", fmt.Errorf("no --%s: the service would run on its defaults (loopback listeners)", name)
	}
	return val, nil
}

// expandEnv returns c's arguments with $(VAR) replaced by the value of c's env VAR, as the
// kubelet does.
func expandEnv(c *corev1.Container) []string {
	out := slices.Clone(c.Args)
	for i := range out {
		for _, e := range c.Env {
			out[i] = strings.ReplaceAll(out[i], "$("+e.Name+")", e.Value)
		}
	}
	return out
}

// envValue returns the literal value of c's environment variable name.
func envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// ingestServices decode each subcommand's config file as `ingest <subcommand> --config`
// does (cmd/ingest: the defaults, then the file, strictly, then Validate) and describe the
// service from it.
var ingestServices = map[string]func(s *service, name string, data []byte) error{
	kindNormalizer: func(s *service, name string, data []byte) error {
		cfg := normalizer.DefaultServiceConfig()
		if err := decodeConfig(name, data, &cfg); err != nil {
			return err
		}
		d := cfg.WithDefaults()
		s.cfg, s.drain, s.traffic = &d, d.ShutdownTimeout, true
		return s.listen("listen", d.Listen, ingestPaths)
	},
	kindSinkWriter: func(s *service, name string, data []byte) error {
		cfg := sinkwriter.DefaultServiceConfig()
		if err := decodeConfig(name, data, &cfg); err != nil {
			return err
		}
		d := cfg.WithDefaults()
		s.cfg, s.drain, s.traffic = &d, d.ShutdownTimeout, true
		return s.listen("listen", d.Listen, ingestPaths)
	},
	kindLoader: func(s *service, name string, data []byte) error {
		cfg := loader.DefaultServiceConfig()
		if err := decodeConfig(name, data, &cfg); err != nil {
			return err
		}
		d := cfg.WithDefaults()
		// loader.NewService: the drain is loader.shutdown_timeout (the last flush and
		// commit) plus 5 s.
		s.cfg, s.drain = &d, d.Loader.ShutdownTimeout+5*time.Second
		if d.Listen == loader.NoListener {
			return nil
		}
		return s.listen("listen", d.Listen, ingestPaths)
	},
	kindControlPlane: func(s *service, name string, data []byte) error {
		cfg := controlplane.DefaultConfig()
		if err := decodeConfig(name, data, &cfg); err != nil {
			return err
		}
		d := cfg.WithDefaults()
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%s: does not validate after defaults: %w", name, err)
		}
		s.cfg, s.drain = &d, d.Admin.ShutdownTimeout
		if err := s.listen("admin.listen_address", d.Admin.ListenAddress, ingestPaths); err != nil {
			return err
		}
		if d.XDS.CertFile == "" {
			return nil // no xDS server
		}
		return s.listen("xds.listen_address", d.XDS.WithDefaults().ListenAddress, nil) // gRPC
	},
}

// decodeConfig decodes data into cfg with the services' own strict decoder (an unknown or
// duplicate key, or a value that does not fit, names the line and the key), then validates it
// as the service does at start.
func decodeConfig(name string, data []byte, cfg any) error {
	if err := config.Decode(name, data, cfg); err != nil {
		return err
	}
	if v, ok := cfg.(config.Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("%s: does not validate: %w", name, err)
		}
	}
	return nil
}

// listen adds the listener key of s at addr, serving paths over HTTP.
func (s *service) listen(key, addr string, paths []string) error {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", key, addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return fmt.Errorf("%s %q: not a fixed port", key, addr)
	}
	l := listener{key: key, host: host, port: int32(port), paths: paths}
	if paths != nil {
		l.ready, l.metrics = "/readyz", "/metrics"
	}
	s.listeners = append(s.listeners, l)
	return nil
}

// configFiles returns every non-empty string field of cfg whose YAML key ends in _file: the
// files the service reads (tokens, keys, certificates).
func configFiles(cfg any) []fileRef {
	var out []fileRef
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || key == "" || key == "-" {
				continue
			}
			switch fv := v.Field(i); {
			case fv.Kind() == reflect.Struct:
				walk(prefix+key+".", fv)
			case fv.Kind() == reflect.String && strings.HasSuffix(key, "_file") && fv.String() != "":
				out = append(out, fileRef{prefix + key, fv.String()})
			}
		}
	}
	walk("", reflect.ValueOf(cfg).Elem())
	return out
}

// decodeBootstrap decodes an Envoy bootstrap strictly (unknown fields and Any types fail)
// and checks Envoy's own field rules (protoc-gen-validate) on it and on every message packed
// in an Any within it.
func decodeBootstrap(data []byte) (*bootstrap.Bootstrap, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	bs := &bootstrap.Bootstrap{}
	if err := protojson.Unmarshal(js, bs); err != nil {
		return nil, fmt.Errorf("not an Envoy bootstrap: %w", err)
	}
	if err := validateProto(bs); err != nil {
		return nil, fmt.Errorf("invalid Envoy bootstrap: %w", err)
	}
	return bs, nil
}

// validateProto runs ValidateAll on m and on the content of every Any within it (ValidateAll
// recurses into nested messages, not into Anys).
func validateProto(m proto.Message) error {
	var errs []error
	var walk func(m protoreflect.Message, validate bool)
	walk = func(m protoreflect.Message, validate bool) {
		if v, ok := m.Interface().(interface{ ValidateAll() error }); ok && validate {
			if err := v.ValidateAll(); err != nil {
				errs = append(errs, err)
			}
		}
		if a, ok := m.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				errs = append(errs, err)
				return
			}
			walk(inner.ProtoReflect(), true)
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsMap():
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { walk(mv.Message(), false); return true })
				}
			case fd.IsList():
				if fd.Message() != nil {
					for i := range v.List().Len() {
						walk(v.List().Get(i).Message(), false)
					}
				}
			case fd.Message() != nil:
				walk(v.Message(), false)
			}
			return true
		})
	}
	walk(m.ProtoReflect(), true)
	return errors.Join(errs...)
}

// envoyListeners returns the admin listener of a bootstrap and its static listeners, each
// with the admin paths it routes to the admin interface.
func envoyListeners(bs *bootstrap.Bootstrap) []listener {
	adm := bs.GetAdmin().GetAddress().GetSocketAddress()
	admin := listener{key: "admin.address", host: adm.GetAddress(), port: int32(adm.GetPortValue()),
		paths: envoyAdminPaths, ready: "/ready", metrics: "/stats/prometheus", internal: true}
	out := []listener{admin}
	toAdmin := map[string]bool{} // static clusters whose only endpoint is the admin interface
	for _, c := range bs.GetStaticResources().GetClusters() {
		for _, e := range c.GetLoadAssignment().GetEndpoints() {
			for _, lb := range e.GetLbEndpoints() {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				toAdmin[c.GetName()] = sa.GetAddress() == admin.host && int32(sa.GetPortValue()) == admin.port
			}
		}
	}
	for _, l := range bs.GetStaticResources().GetListeners() {
		sa := l.GetAddress().GetSocketAddress()
		li := listener{key: "static_resources.listeners[" + l.GetName() + "]", host: sa.GetAddress(), port: int32(sa.GetPortValue())}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				h := &hcm.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(h) != nil {
					continue
				}
				li.paths = []string{}
				for _, vh := range h.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						if p := r.GetMatch().GetPath(); p != "" && toAdmin[r.GetRoute().GetCluster()] && slices.Contains(envoyAdminPaths, p) {
							li.paths = append(li.paths, p)
						}
					}
				}
			}
		}
		if slices.Contains(li.paths, "/ready") {
			li.ready = "/ready"
		}
		if slices.Contains(li.paths, "/stats/prometheus") {
			li.metrics = "/stats/prometheus"
		}
		out = append(out, li)
	}
	return out
}

// bootstrapFiles returns every file a bootstrap names (DataSource.filename: certificates,
// keys, CAs), found in its JSON form with every Any expanded.
func bootstrapFiles(bs *bootstrap.Bootstrap) []fileRef {
	js, err := (protojson.MarshalOptions{UseProtoNames: true}).Marshal(bs)
	if err != nil {
		return nil
	}
	var doc any
	if json.Unmarshal(js, &doc) != nil {
		return nil
	}
	var out []fileRef
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "filename" {
					out = append(out, fileRef{key + ".filename", s})
					continue
				}
				walk(key+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", key, i), e)
			}
		}
	}
	walk("bootstrap", doc)
	slices.SortFunc(out, func(a, b fileRef) int { return strings.Compare(a.key, b.key) })
	return out
}

// source is where a file in a container comes from.
type source struct {
	kind, name, key string // "ConfigMap" or "Secret", its name and key; or the volume's type and name
	data            []byte
}

func (s source) String() string { return fmt.Sprintf("%s %s key %s", s.kind, s.name, s.key) }

// fileSource returns where the file p of container c comes from: the volume mounted at or
// above it, and the ConfigMap or Secret key behind that (data set), or the kind of volume
// that is not one of those (data nil).
func (m *manifest) fileSource(w *workload, c *corev1.Container, p string) (source, error) {
	p = path.Clean(p)
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		mp := path.Clean(vm.MountPath)
		if (p == mp || strings.HasPrefix(p, mp+"/")) && (mount == nil || len(mp) > len(path.Clean(mount.MountPath))) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		return source{}, fmt.Errorf("%s: no volume is mounted at or above it", p)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, path.Clean(mount.MountPath)), "/")
	if mount.SubPath != "" {
		rel = path.Join(mount.SubPath, rel)
	}
	if rel == "" {
		return source{}, fmt.Errorf("%s: is the mount point of volume %s, a directory", p, mount.Name)
	}
	for _, claim := range w.claims {
		if claim.Name == mount.Name {
			return source{kind: "PersistentVolumeClaim", name: claim.Name, key: rel}, nil
		}
	}
	var vol *corev1.Volume
	for i, v := range w.template.Spec.Volumes {
		if v.Name == mount.Name {
			vol = &w.template.Spec.Volumes[i]
		}
	}
	switch {
	case vol == nil:
		return source{}, fmt.Errorf("%s: volume %s is mounted but not declared", p, mount.Name)
	case vol.ConfigMap != nil:
		return m.keySource(w.namespace, "ConfigMap", vol.ConfigMap.Name, vol.ConfigMap.Items, rel, p)
	case vol.Secret != nil:
		return m.keySource(w.namespace, "Secret", vol.Secret.SecretName, vol.Secret.Items, rel, p)
	case vol.Projected != nil:
		for _, ps := range vol.Projected.Sources {
			var s source
			var err error
			switch {
			case ps.ConfigMap != nil:
				s, err = m.keySource(w.namespace, "ConfigMap", ps.ConfigMap.Name, ps.ConfigMap.Items, rel, p)
			case ps.Secret != nil:
				s, err = m.keySource(w.namespace, "Secret", ps.Secret.Name, ps.Secret.Items, rel, p)
			default:
				continue
			}
			if err == nil {
				return s, nil
			}
		}
		return source{}, fmt.Errorf("%s: no source of projected volume %s holds %s", p, vol.Name, rel)
	case vol.EmptyDir != nil:
		return source{kind: "emptyDir", name: vol.Name, key: rel}, nil
	case vol.PersistentVolumeClaim != nil:
		return source{kind: "PersistentVolumeClaim", name: vol.PersistentVolumeClaim.ClaimName, key: rel}, nil
	}
	return source{}, fmt.Errorf("%s: volume %s is of a kind these checks do not read", p, vol.Name)
}

// keySource returns the key of the ConfigMap or Secret kind/name that a file rel (relative
// to the volume) holds, given the volume's items.
func (m *manifest) keySource(ns, kind, name string, items []corev1.KeyToPath, rel, p string) (source, error) {
	key := rel
	if len(items) > 0 {
		key = ""
		for _, it := range items {
			if path.Clean(it.Path) == rel {
				key = it.Key
			}
		}
		if key == "" {
			return source{}, fmt.Errorf("%s: %s is not among the items of %s %s", p, rel, kind, name)
		}
	}
	data, err := m.keyData(ns, kind, name, key)
	if err != nil {
		return source{}, fmt.Errorf("%s: %w", p, err)
	}
	return source{kind: kind, name: name, key: key, data: data}, nil
}

// keyData returns the value of key in the ConfigMap or Secret kind/name of namespace ns.
func (m *manifest) keyData(ns, kind, name, key string) ([]byte, error) {
	switch o := m.get(kind, ns, name).(type) {
	case *corev1.ConfigMap:
		if v, ok := o.Data[key]; ok {
			return []byte(v), nil
		}
		if v, ok := o.BinaryData[key]; ok {
			return v, nil
		}
	case *corev1.Secret:
		if v, ok := o.Data[key]; ok {
			return v, nil
		}
		if v, ok := o.StringData[key]; ok {
			return []byte(v), nil
		}
	default:
		return nil, fmt.Errorf("%s %s does not exist in namespace %q", kind, name, ns)
	}
	return nil, fmt.Errorf("key %q is not in %s %s", key, kind, name)
}
