package k8s

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestChecksCatchBrokenManifests breaks a rendered manifest in one place per case and
// asserts that the check meant to notice reports it: no check passes vacuously.
func TestChecksCatchBrokenManifests(t *testing.T) {
	cases := []struct {
		check, name string
		dir         string // default overlays/production
		mutate      func(t *testing.T, m *manifest)
		want        string
	}{
		// services
		{"services", "misspelt config key", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "max_inflight_bytes:", "max_inflight_byte:")
		}, "normalizer.max_inflight_byte: unknown key"},
		{"services", "config value out of range", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "sink: sinkwriter", "sink: bogus")
		}, "does not validate"},
		{"services", "a flag beside --config", "", func(t *testing.T, m *manifest) {
			c := ctr(t, dep(t, m, "ingest-normalizer"), "normalizer")
			c.Args = append(c.Args, "--listen", ":1")
		}, "only --config is expected"},
		{"services", "unknown image", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-normalizer"), "normalizer").Image = "busybox:1.36"
		}, "is neither"},
		{"services", "config file not mounted", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-normalizer"), "normalizer").Args[2] = "/etc/other/normalizer.yaml"
		}, "no volume is mounted"},
		{"services", "unknown bootstrap field", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "set_node_on_first_message_only:", "set_node_on_first_message:")
		}, "not an Envoy bootstrap"},
		{"services", "bootstrap value Envoy refuses", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "port_value: 9902", "port_value: 99020")
		}, "invalid Envoy bootstrap"},
		{"services", "a service missing", "", func(t *testing.T, m *manifest) {
			remove(m, "Deployment", "ingest-loader")
		}, "no container runs the loader"},

		// files
		{"files", "key file not in its Secret", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "/etc/ingest/hop-key/hop.key", "/etc/ingest/hop-key/missing.key")
		}, `key "missing.key" is not in Secret`},
		{"files", "password not among the volume's items", "", func(t *testing.T, m *manifest) {
			v := vol(t, dep(t, m, "ingest-loader"), "kafka")
			v.Secret.Items = v.Secret.Items[:1]
		}, "is not among the items"},
		{"files", "key from a ConfigMap", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "/etc/ingest/hop-key/hop.key", "/etc/ingest/config/normalizer.yaml")
		}, "must come from a Secret"},
		{"files", "Envoy's private key from a ConfigMap", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "filename: /etc/envoy/xds/client.key", "filename: /etc/envoy/bootstrap/bootstrap.yaml")
		}, "private_key.filename /etc/envoy/bootstrap/bootstrap.yaml comes from ConfigMap"},
		{"files", "bootstrap file on an emptyDir", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "filename: /etc/envoy/xds/ca.crt", "filename: /tmp/ca.crt")
		}, "not from a ConfigMap or Secret"},

		// ports
		{"ports", "container port without a listener", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-normalizer"), "normalizer").Ports[0].ContainerPort = 4319
		}, "container port http 4319 matches no listen address"},
		{"ports", "listener on loopback", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "listen: :4318", "listen: 127.0.0.1:4318")
		}, "binds loopback"},
		{"ports", "Envoy admin on every address", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "admin:\n  address:\n    socket_address:\n      address: 127.0.0.1", "admin:\n  address:\n    socket_address:\n      address: 0.0.0.0")
		}, "not loopback"},
		{"ports", "edge listener port of the control plane undeclared", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "listener_port: 8443", "listener_port: 8444")
		}, "port 8444 is not a container port"},

		// probes
		{"probes", "readiness on the liveness endpoint", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-normalizer"), "normalizer").ReadinessProbe.HTTPGet.Path = "/healthz"
		}, "the readiness probe must GET"},
		{"probes", "probe port name unknown", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-sinkwriter"), "sinkwriter").LivenessProbe.HTTPGet.Port = intstr.FromString("htp")
		}, "port htp is no container port"},
		{"probes", "path the probe listener does not route", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-edge"), "envoy").LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/config_dump", Port: intstr.FromString("probes")}}}
		}, `does not serve "/config_dump"`},
		{"probes", "no readiness probe", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-sinkwriter"), "sinkwriter").ReadinessProbe = nil
		}, "no readiness probe"},

		// endpoints
		{"endpoints", "targetPort not on the pods", "", func(t *testing.T, m *manifest) {
			svc(t, m, "ingest-normalizer").Spec.Ports[0].TargetPort = intstr.FromString("metrics")
		}, "targetPort metrics is no container port"},
		{"endpoints", "selector selects nothing", "", func(t *testing.T, m *manifest) {
			svc(t, m, "ingest-normalizer").Spec.Selector = map[string]string{"app.kubernetes.io/name": "ingest-normaliser"}
		}, "selects no pod"},

		// references
		{"references", "secretKeyRef key missing", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-loader"), "loader").Env[0].ValueFrom.SecretKeyRef.Key = "passwd"
		}, `key "passwd" is not in Secret`},
		{"references", "ConfigMap by its name before the hash", "", func(t *testing.T, m *manifest) {
			vol(t, dep(t, m, "ingest-normalizer"), "config").ConfigMap.Name = "ingest-normalizer-config"
		}, "ConfigMap ingest-normalizer-config does not exist"},
		{"references", "object outside the namespace", "", func(t *testing.T, m *manifest) {
			for i, o := range m.objects {
				if o.kind == "Secret" && strings.HasPrefix(o.name, "ingest-kafka-client-") {
					m.objects[i].namespace = ""
				}
			}
		}, `in namespace "", not "ingest"`},
		{"references", "mount of an undeclared volume", "", func(t *testing.T, m *manifest) {
			c := ctr(t, dep(t, m, "ingest-loader"), "loader")
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "extra", MountPath: "/extra"})
		}, "mounts volume extra, which the pod does not declare"},

		// memory
		{"memory", "limit below the normalizer's bound", "", func(t *testing.T, m *manifest) {
			setMemory(ctr(t, dep(t, m, "ingest-normalizer"), "normalizer"), "1Gi")
		}, "memory limit 1Gi (1024 MiB) is not above 1120 MiB"},
		{"memory", "bound raised in the config", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-sinkwriter-config", "max_buffer_bytes: 268435456", "max_buffer_bytes: 536870912")
		}, "is not above 3168 MiB"},
		{"memory", "loader without a Go memory limit", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-loader-config", "memory_limit: 671088640", "memory_limit: -1")
		}, "bounded by nothing"},
		{"memory", "GOMEMLIMIT wins over the loader's memory_limit", "", func(t *testing.T, m *manifest) {
			c := ctr(t, dep(t, m, "ingest-loader"), "loader")
			c.Env = append(c.Env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: "2GiB"})
		}, "GOMEMLIMIT 2048 MiB + 32 MiB"},
		{"memory", "edge without GOMEMLIMIT", "", func(t *testing.T, m *manifest) {
			c := ctr(t, dep(t, m, "ingest-edge"), "envoy")
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
		}, "no GOMEMLIMIT"},
		{"memory", "edge in-flight bound above the overload threshold", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "max_in_flight_bytes: 536870912", "max_in_flight_bytes: 1879048192")
		}, "where Envoy's first overload action starts"},
		{"memory", "no CPU request", "", func(t *testing.T, m *manifest) {
			delete(ctr(t, dep(t, m, "ingest-sinkwriter"), "sinkwriter").Resources.Requests, corev1.ResourceCPU)
		}, "requests no CPU"},

		// scaling
		{"scaling", "autoscaler target misnamed", "", func(t *testing.T, m *manifest) {
			hpa(t, m, "ingest-normalizer").Spec.ScaleTargetRef.Name = "ingest-normaliser"
		}, "is no workload of the render"},
		{"scaling", "autoscaler target sets replicas", "", func(t *testing.T, m *manifest) {
			dep(t, m, "ingest-normalizer").Spec.Replicas = new(int32(3))
		}, "which the autoscaler owns"},
		{"scaling", "autoscaler scales on an unrequested resource", "", func(t *testing.T, m *manifest) {
			delete(ctr(t, dep(t, m, "ingest-edge"), "envoy").Resources.Requests, corev1.ResourceCPU)
		}, "scales on cpu, which container envoy"},
		{"scaling", "disruption budget selects nothing", "", func(t *testing.T, m *manifest) {
			pdb(t, m, "ingest-sinkwriter").Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "sinkwriter"
		}, "selects no pod"},
		{"scaling", "disruption budget of 0", "", func(t *testing.T, m *manifest) {
			pdb(t, m, "ingest-sinkwriter").Spec.MaxUnavailable = new(intstr.FromInt32(0))
		}, "blocks every eviction"},
		{"scaling", "minAvailable 1 of one replica", "overlays/small", func(t *testing.T, m *manifest) {
			p := pdb(t, m, "ingest-loader")
			p.Spec.MaxUnavailable, p.Spec.MinAvailable = nil, new(intstr.FromInt32(1))
		}, "allows 0 evictions"},
		{"scaling", "no disruption budget", "", func(t *testing.T, m *manifest) {
			remove(m, "PodDisruptionBudget", "ingest-loader")
		}, "no PodDisruptionBudget"},
		{"scaling", "spread over other pods", "", func(t *testing.T, m *manifest) {
			dep(t, m, "ingest-edge").Spec.Template.Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app.kubernetes.io/name"] = "edge"
		}, "does not select its own pods"},

		// grace
		{"grace", "grace shorter than the drain", "", func(t *testing.T, m *manifest) {
			dep(t, m, "ingest-normalizer").Spec.Template.Spec.TerminationGracePeriodSeconds = new(int64(20))
		}, "terminationGracePeriodSeconds 20 is not above the preStop 5s + the drain 20s"},
		{"grace", "shutdown timeout raised in the config", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-loader-config", "shutdown_timeout: 10s", "shutdown_timeout: 30s")
		}, "is not above the preStop 0s + the drain 35s"},
		{"grace", "no preStop on a service behind a Service", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-sinkwriter"), "sinkwriter").Lifecycle = nil
		}, "no preStop hook: it would stop taking requests"},
		{"grace", "no preStop on Envoy", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-edge"), "envoy").Lifecycle = nil
		}, "Envoy closes its listeners at once"},
		{"grace", "Envoy's drain longer than the grace", "", func(t *testing.T, m *manifest) {
			c := ctr(t, dep(t, m, "ingest-edge"), "envoy")
			for i := range c.Env {
				if c.Env[i].Name == "ENVOY_DRAIN_SECONDS" {
					c.Env[i].Value = "40"
				}
			}
		}, "the drain 40s"},

		// scrape
		{"scrape", "scrape port not a container port", "", func(t *testing.T, m *manifest) {
			dep(t, m, "ingest-edge").Spec.Template.Annotations["prometheus.io/port"] = "9901"
		}, "prometheus.io/port 9901 is not a container port"},
		{"scrape", "scrape path not the metrics", "", func(t *testing.T, m *manifest) {
			dep(t, m, "ingest-normalizer").Spec.Template.Annotations["prometheus.io/path"] = "/healthz"
		}, `serves its metrics at "/metrics"`},
		{"scrape", "no scrape annotation", "", func(t *testing.T, m *manifest) {
			delete(sts(t, m, "ingest-controlplane").Spec.Template.Annotations, "prometheus.io/scrape")
		}, "are not all set"},

		// singleton
		{"singleton", "two control planes", "", func(t *testing.T, m *manifest) {
			sts(t, m, "ingest-controlplane").Spec.Replicas = new(int32(2))
		}, "exactly one replica"},
		{"singleton", "registry on an emptyDir", "", func(t *testing.T, m *manifest) {
			s := sts(t, m, "ingest-controlplane")
			s.Spec.VolumeClaimTemplates = nil
			s.Spec.Template.Spec.Volumes = append(s.Spec.Template.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, "not on a persistent volume"},
		{"singleton", "control plane autoscaled", "", func(t *testing.T, m *manifest) {
			m.objects = append(m.objects, object{kind: "HorizontalPodAutoscaler", namespace: "ingest", name: "cp", obj: &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "cp", Namespace: "ingest"},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 2,
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "ingest-controlplane"}}}})
		}, "scales the control plane"},

		// wiring
		{"wiring", "sink writer URL on a port the Service lacks", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "http://ingest-sinkwriter:4320", "http://ingest-sinkwriter:4321")
		}, "Service ingest-sinkwriter has no port 4321"},
		{"wiring", "sink writer URL reaching the loader", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "http://ingest-sinkwriter:4320", "http://ingest-loader:9465")
		}, "reaches loader's listen :9465, not the sinkwriter's listen"},
		{"wiring", "report URL on the xDS port", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-loader-config", "http://ingest-controlplane:9090", "http://ingest-controlplane:18000")
		}, "not the controlplane's admin.listen_address"},
		{"wiring", "edge dialling the admin port for xDS", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "port_value: 18000", "port_value: 9090")
		}, "not the controlplane's xds.listen_address"},
		{"wiring", "SAN matcher naming another host", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-edge-bootstrap", "exact: ingest-controlplane.ingest.svc.cluster.local", "exact: controlplane.example")
		}, "its SAN matcher accepts"},
		{"wiring", "node cluster mismatch", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "node_cluster: ingest-edge", "node_cluster: edges")
		}, "is not the control plane's xds.node_cluster"},
		{"wiring", "filter library elsewhere", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "filter_library_path: /etc/envoy/ingest-edge.so", "filter_library_path: /usr/lib/ingest-edge.so")
		}, "is not where deploy/docker/envoy.Dockerfile puts the filter"},
		{"wiring", "volume hiding the filter", "", func(t *testing.T, m *manifest) {
			c := ctr(t, dep(t, m, "ingest-edge"), "envoy")
			c.VolumeMounts[0].MountPath = "/etc/envoy"
			c.Args[1] = "/etc/envoy/bootstrap.yaml"
		}, "hides the image's /etc/envoy/ingest-edge.so"},
		{"wiring", "topic pattern mismatch", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-sinkwriter-config", "topic_pattern: ingest.{tenant}", "topic_pattern: tenants.{tenant}")
		}, "does not match the sink writers' topic"},
		{"wiring", "brokers mismatch", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-loader-config", "kafka-2.kafka.example.internal:9093]", "kafka-3.kafka.example.internal:9093]")
		}, "the services disagree"},
		{"wiring", "ClickHouse mismatch", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "database: ingest", "database: ingest2")
		}, "controlplane clickhouse.addr and database"},
		{"wiring", "ClickHouse cluster mismatch", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "cluster: ingest ", "cluster: other ")
		}, "controlplane clickhouse.addr and database, and clickhouse.cluster"},
		{"wiring", "ClickHouse cluster missing in the control plane", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-controlplane-config", "cluster: ingest ", "cluster: \"\" ")
		}, "cluster=ingest"},
		{"wiring", "hop key not shared", "", func(t *testing.T, m *manifest) {
			editConfig(t, m, "ingest-normalizer-config", "key_file: /etc/ingest/hop-key/hop.key", "key_file: /etc/ingest/report-token/report-token")
		}, "read the hop key from different places"},

		// images
		{"images", "latest", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-loader"), "loader").Image = ingestImage + ":latest"
		}, "has no fixed tag"},
		{"images", "images of different tags", "", func(t *testing.T, m *manifest) {
			ctr(t, dep(t, m, "ingest-edge"), "envoy").Image = envoyImage + ":other"
		}, "different tags"},

		// placeholders
		{"placeholders", "a real secret", "", func(t *testing.T, m *manifest) {
			for _, s := range typed[*corev1.Secret](m) {
				if strings.HasPrefix(s.Name, "ingest-admin-token-") {
					s.Data["admin-token"] = []byte("0123456789abcdef0123456789abcdef")
				}
			}
		}, "is not a REPLACE-ME placeholder"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.check] = true
		t.Run(tc.check+"/"+tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = "overlays/production"
			}
			m := load(t, dir)
			tc.mutate(t, m)
			i := slices.IndexFunc(checks, func(c check) bool { return c.name == tc.check })
			if i < 0 {
				t.Fatalf("no check %q", tc.check)
			}
			errs := checks[i].run(analyze(m))
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Errorf("check %s did not report %q; it reported %d errors: %v", tc.check, tc.want, len(errs), errs)
			}
		})
	}
	for _, c := range checks {
		if !covered[c.name] {
			t.Errorf("check %s has no failing case", c.name)
		}
	}
}

// editConfig replaces old with new in the one file of the ConfigMap generated as name.
func editConfig(t *testing.T, m *manifest, name, old, new string) {
	t.Helper()
	for _, cm := range typed[*corev1.ConfigMap](m) {
		if strings.HasPrefix(cm.Name, name+"-") {
			for k, v := range cm.Data {
				if !strings.Contains(v, old) {
					t.Fatalf("ConfigMap %s key %s has no %q", cm.Name, k, old)
				}
				cm.Data[k] = strings.Replace(v, old, new, 1)
			}
			return
		}
	}
	t.Fatalf("no ConfigMap %s", name)
}

func remove(m *manifest, kind, name string) {
	m.objects = slices.DeleteFunc(m.objects, func(o object) bool { return o.kind == kind && o.name == name })
}

func find[T any](t *testing.T, m *manifest, kind, name string) T {
	t.Helper()
	for _, o := range m.objects {
		if x, ok := o.obj.(T); ok && o.kind == kind && o.name == name {
			return x
		}
	}
	t.Fatalf("no %s %s", kind, name)
	var zero T
	return zero
}

func dep(t *testing.T, m *manifest, name string) *appsv1.Deployment {
	return find[*appsv1.Deployment](t, m, "Deployment", name)
}

func sts(t *testing.T, m *manifest, name string) *appsv1.StatefulSet {
	return find[*appsv1.StatefulSet](t, m, "StatefulSet", name)
}

func svc(t *testing.T, m *manifest, name string) *corev1.Service {
	return find[*corev1.Service](t, m, "Service", name)
}

func hpa(t *testing.T, m *manifest, name string) *autoscalingv2.HorizontalPodAutoscaler {
	return find[*autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler", name)
}

func pdb(t *testing.T, m *manifest, name string) *policyv1.PodDisruptionBudget {
	return find[*policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", name)
}

func ctr(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	t.Fatalf("%s has no container %s", d.Name, name)
	return nil
}

func vol(t *testing.T, d *appsv1.Deployment, name string) *corev1.Volume {
	t.Helper()
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return &d.Spec.Template.Spec.Volumes[i]
		}
	}
	t.Fatalf("%s has no volume %s", d.Name, name)
	return nil
}

func setMemory(c *corev1.Container, q string) {
	c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse(q)
	c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(q)
}
