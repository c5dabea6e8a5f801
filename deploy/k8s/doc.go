// Package k8s checks the Kubernetes manifests of deploy/k8s: its tests render the base and
// every overlay with kustomize (krusty, in process), decode every object strictly into the
// typed Kubernetes API structs, decode every service's --config file with the service's own
// config type, and check how the pieces are wired (ports, probes, Services, references,
// memory bounds, drain times, autoscaling, scraping). It is its own module, so that the main
// module does not depend on Kubernetes' packages. cmd/render prints a kustomization (kustomize build) where no kubectl is installed.
package k8s
