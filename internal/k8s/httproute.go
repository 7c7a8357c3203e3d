package k8s

import (
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/tendhq/tend/internal/spec"
)

// httpRoute attaches the app's hosts and path prefix to a Gateway API Gateway ("NAME" or
// "NAMESPACE/NAME"), sending to the app's Service.
func httpRoute(app *spec.App, meta metav1.ObjectMeta, gateway string) *gatewayv1.HTTPRoute {
	ns, name, ok := strings.Cut(gateway, "/")
	if !ok {
		ns, name = "", gateway
	}
	parent := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(name)}
	if ns != "" {
		parent.Namespace = ptr(gatewayv1.Namespace(ns))
	}
	hosts := slices.Clone(app.Route.Hosts)
	slices.Sort(hosts)
	var hostnames []gatewayv1.Hostname
	for _, h := range hosts {
		hostnames = append(hostnames, gatewayv1.Hostname(h))
	}
	prefix := app.Route.PathPrefix
	if prefix == "" {
		prefix = "/"
	}
	return &gatewayv1.HTTPRoute{TypeMeta: typeMeta("gateway.networking.k8s.io/v1", "HTTPRoute"), ObjectMeta: meta,
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent}},
			Hostnames:       hostnames,
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr(prefix)}}},
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{
					Name: gatewayv1.ObjectName(app.App), Port: ptr(gatewayv1.PortNumber(80))}}}},
			}},
		}}
}

// proxyPeer is where the proxy that sends users' traffic to the app runs: the namespace
// of the Gateway (the app's own when the reference names none), else ingress-nginx.
func proxyPeer(gateway string) networkingv1.NetworkPolicyPeer {
	ns, _, ok := strings.Cut(gateway, "/")
	switch {
	case gateway == "":
		ns = "ingress-nginx"
	case !ok:
		return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}}
	}
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}
}
