package k8s

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizations are the directories rendered and checked: the base and every overlay.
var kustomizations = []string{"base", "overlays/small", "overlays/production"}

// kinds maps the apiVersion and kind of every object the manifests may hold to a new value of
// its typed struct. Any other kind is an error: a new kind needs a decision here (and checks).
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
}

// object is one rendered object, decoded into its typed struct (a pointer, e.g.
// *appsv1.Deployment).
type object struct {
	kind, namespace, name string
	obj                   any
}

func (o object) String() string {
	if o.namespace == "" {
		return o.kind + " " + o.name
	}
	return o.kind + " " + o.namespace + "/" + o.name
}

// manifest is one rendered kustomization.
type manifest struct {
	dir     string
	objects []object
}

// renderCache holds each kustomization's rendered documents, rendered once per test binary;
// every call of load decodes them afresh, so that a test may mutate what it got.
var renderCache sync.Map // dir → renderResult

type renderResult struct {
	docs [][]byte
	err  error
}

// renderDocs runs kustomize on dir (relative to this directory) in process, as `kustomize
// build` and `kubectl kustomize` do, and returns each object as YAML.
func renderDocs(dir string) ([][]byte, error) {
	if r, ok := renderCache.Load(dir); ok {
		return r.(renderResult).docs, r.(renderResult).err
	}
	var docs [][]byte
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.FromSlash(dir))
	if err == nil {
		for _, r := range m.Resources() {
			y, yerr := r.AsYAML()
			if yerr != nil {
				err = fmt.Errorf("cannot print %s: %w", r.CurId(), yerr)
				break
			}
			docs = append(docs, y)
		}
	}
	if err != nil {
		err = fmt.Errorf("cannot render %s: %w", dir, err)
	}
	renderCache.Store(dir, renderResult{docs, err})
	return docs, err
}

// load renders dir and decodes every object strictly; it fails the test on any error.
func load(t *testing.T, dir string) *manifest {
	t.Helper()
	docs, err := renderDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeAll(dir, docs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeAll decodes each document strictly (an unknown or duplicate field, or a value of the
// wrong type, is an error) into the typed struct of its kind; an unexpected kind is an error.
func decodeAll(dir string, docs [][]byte) (*manifest, error) {
	m := &manifest{dir: dir}
	var errs []string
	for _, doc := range docs {
		o, err := decodeObject(doc)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		m.objects = append(m.objects, o)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", dir, strings.Join(errs, "\n"))
	}
	return m, nil
}

func decodeObject(doc []byte) (object, error) {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return object{}, fmt.Errorf("cannot read an object's kind: %w", err)
	}
	id := head.Kind + " " + head.Metadata.Name
	newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return object{}, fmt.Errorf("%s: unexpected kind %s/%s: add it to kinds (and to the checks) if it is meant to be there", id, head.APIVersion, head.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s: does not decode strictly as %s/%s: %w", id, head.APIVersion, head.Kind, err)
	}
	return object{kind: head.Kind, namespace: head.Metadata.Namespace, name: head.Metadata.Name, obj: obj}, nil
}

// get returns the object of kind and name in namespace ns, or nil.
func (m *manifest) get(kind, ns, name string) any {
	for _, o := range m.objects {
		if o.kind == kind && o.namespace == ns && o.name == name {
			return o.obj
		}
	}
	return nil
}

// workload is a Deployment or StatefulSet, with pointers into its typed object so that tests
// can mutate it through here.
type workload struct {
	kind, namespace, name string
	replicas              *int32
	selector              *metav1.LabelSelector
	template              *corev1.PodTemplateSpec
	claims                []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
	obj                   any
}

func (w *workload) String() string { return w.kind + " " + w.namespace + "/" + w.name }

// workloads returns the Deployments and StatefulSets of m.
func (m *manifest) workloads() []*workload {
	var out []*workload
	for _, o := range m.objects {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, &workload{kind: o.kind, namespace: o.namespace, name: o.name, replicas: x.Spec.Replicas,
				selector: x.Spec.Selector, template: &x.Spec.Template, obj: x})
		case *appsv1.StatefulSet:
			out = append(out, &workload{kind: o.kind, namespace: o.namespace, name: o.name, replicas: x.Spec.Replicas,
				selector: x.Spec.Selector, template: &x.Spec.Template, claims: x.Spec.VolumeClaimTemplates, obj: x})
		}
	}
	return out
}

// typed returns the objects of m of type T.
func typed[T any](m *manifest) []T {
	var out []T
	for _, o := range m.objects {
		if x, ok := o.obj.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// TestDecodeRefusesUnknownFieldsAndKinds: the strict decoding the checks rely on fails on a
// misspelt field, a duplicate field, a wrongly typed value and a kind nobody expected.
func TestDecodeRefusesUnknownFieldsAndKinds(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selectr: {a: b}\n", `unknown field "selectr"`},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x\ndata:\n  b: y\n", `key "data" already set`},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: two\n", `cannot unmarshal`},
		{"unexpected kind", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", `unexpected kind v1/Pod`},
		{"old API version", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h\n", `unexpected kind autoscaling/v1/HorizontalPodAutoscaler`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeObject([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// And a well-formed one decodes.
	if _, err := decodeObject([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: x\n")); err != nil {
		t.Error(err)
	}
}
