// Package kube pins the Kubernetes control plane that tend's Kubernetes tests run
// against: k8s.io/kubernetes with every staging module replaced by its release, built by
// build.sh.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)
