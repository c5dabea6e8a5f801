// Command render prints the manifests of a kustomization as `kustomize build` and `kubectl
// kustomize` do, with the same kustomize (krusty) the manifest tests use, for machines without
// kubectl:
//
//	cd deploy/k8s && go run ./cmd/render overlays/small > small.yaml
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/render <kustomization directory>   (e.g. overlays/small)")
		os.Exit(2)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "render: cannot build %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	out, err := m.AsYaml()
	if err != nil {
		fmt.Fprintf(os.Stderr, "render: cannot print %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
