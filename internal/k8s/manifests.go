// Package k8s turns an app's spec into Kubernetes manifests that run it as tend would.
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/tendhq/tend/internal/spec"
)

// Ports every instance gets, as PORT and ADMIN_PORT (kit serves metrics, pprof and its
// own health on the admin port), and the user tend's images run as.
const (
	AppPort   = 8080
	AdminPort = 9090
	user      = 65532
)

// Options choose what the manifests refer to outside the spec.
type Options struct {
	// Image is the container image (default APP:latest; `tend build image` makes one).
	Image string
	// Namespace of every object ("": none, kubectl's current).
	Namespace string
	// Gateway, "NAME" or "NAMESPACE/NAME" of a Gateway API Gateway, makes the route an
	// HTTPRoute attached to it instead of an Ingress.
	Gateway string
	// SecretValues, when not nil, are written into the app's Secret (key: the secret's
	// name); without them the Secret names the keys and holds no value.
	SecretValues map[string][]byte
}

// Manifests returns the objects that run app, in apply order: ServiceAccount, Secret
// (the app uses secrets), ConfigMaps (env, and config files: their content must have
// been read, App.ReadFiles), Deployment, Service, then when they apply Ingress
// (route.hosts), PodDisruptionBudget (more than one instance) and NetworkPolicy. An
// app with autoscale: gets a HorizontalPodAutoscaler after its Deployment, which then
// leaves its replicas to it.
func Manifests(app *spec.App, o Options) []runtime.Object {
	if o.Image == "" {
		o.Image = app.App + ":latest"
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels(app.App)}
	}
	sel := map[string]string{"app.kubernetes.io/name": app.App}
	src := ExportSources(app.App)
	out := []runtime.Object{ServiceAccount(app.App, o.Namespace)}
	if len(app.SecretNames()) > 0 {
		out = append(out, exportSecret(app, meta(src.Secret), o.SecretValues))
	}
	out = append(out, &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(app.App + "-env"), Data: app.Env})
	if HasConfigFiles(app.Files) {
		out = append(out, exportFiles(app, meta(src.Files)))
	}
	dep := deployment(app, o, meta(app.App), sel, src)
	if app.Autoscale != nil {
		// the HPA owns the count: an apply that set it would reset the HPA's
		dep.Spec.Replicas = nil
	}
	out = append(out, dep)
	if app.Autoscale != nil {
		out = append(out, hpa(app, meta(app.App)))
	}
	out = append(out,
		&corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: meta(app.App), Spec: corev1.ServiceSpec{
			Selector: sel,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "admin", Port: AdminPort, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP},
			}}})
	switch {
	case o.Gateway != "":
		out = append(out, httpRoute(app, meta(app.App), o.Gateway))
	case len(app.Route.Hosts) > 0:
		out = append(out, ingress(app, meta(app.App)))
	}
	if replicas(app) > 1 || (app.Autoscale != nil && app.Autoscale.Max > 1) {
		one := intstr.FromInt32(1)
		out = append(out, &policyv1.PodDisruptionBudget{TypeMeta: typeMeta("policy/v1", "PodDisruptionBudget"), ObjectMeta: meta(app.App),
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}}})
	}
	return append(out, networkPolicy(app, meta(app.App), sel, o.Gateway))
}

// YAML writes objects as one multi-document YAML stream, the same bytes for the same
// spec and options, without the status fields a manifest does not set.
func YAML(objs []runtime.Object) ([]byte, error) {
	var b bytes.Buffer
	for i, obj := range objs {
		j, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", obj, err)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		delete(m, "status")
		y, err := yaml.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", obj, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

func deployment(app *spec.App, o Options, meta metav1.ObjectMeta, sel map[string]string, src Sources) *appsv1.Deployment {
	grace := app.Shutdown.Grace + app.Shutdown.Drain
	metricsPort := AdminPort
	if app.Metrics.Port == "app" {
		metricsPort = AppPort
	}
	annotations := map[string]string{}
	if !app.Metrics.Disabled {
		annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(metricsPort), "prometheus.io/path": app.Metrics.Path}
	}
	c := corev1.Container{
		Name:    app.App,
		Image:   o.Image,
		Args:    kubeArgs(app.Args),
		Env:     append(append(podEnv(), corev1.EnvVar{Name: "TEND_APP", Value: app.App}), secretEnv(app, src.Secret)...),
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: app.App + "-env"}}}},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: AppPort, Protocol: corev1.ProtocolTCP},
			{Name: "admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: probe(app.Health.Readiness),
		LivenessProbe:  probe(app.Health.Liveness),
		Resources:      resources(app.Resources),
		// the gateway or the ingress keeps sending for a moment after the pod is marked
		// for deletion: serve through the drain delay before SIGTERM
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: int64(seconds(app.Shutdown.Drain))}}},
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
	}
	d := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
		Replicas:                ptr(int32(replicas(app))),
		Selector:                &metav1.LabelSelector{MatchLabels: sel},
		ProgressDeadlineSeconds: ptr(seconds(app.Strategy.ProgressDeadline)),
		RevisionHistoryLimit:    ptr(int32(10)),
		Strategy:                strategy(app),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels(app.App), Annotations: annotations},
			Spec: corev1.PodSpec{
				ServiceAccountName:            app.App,
				AutomountServiceAccountToken:  ptr(false),
				TerminationGracePeriodSeconds: ptr(int64(seconds(grace))),
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(user)), RunAsGroup: ptr(int64(user)),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{c},
				Volumes:    []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
					WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}}},
			},
		},
	}}
	addFiles(app, &d.Spec.Template.Spec, src)
	if m := app.Strategy.MinReady(); m > 0 {
		d.Spec.MinReadySeconds = seconds(m)
	}
	return d
}

// strategy maps tend's rolling parameters; blue-green and canary steps are tend's to
// run (tend drives them when it runs on Kubernetes), so their Deployment rolls as tend's
// default rolling update would.
func strategy(app *spec.App) appsv1.DeploymentStrategy {
	surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	if r := app.Strategy.Rolling; r != nil {
		surge, unavailable = intOrPercent(r.MaxSurge), intOrPercent(r.MaxUnavailable)
	}
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}
}

func intOrPercent(v spec.IntOrPercent) intstr.IntOrString {
	if v.Percent {
		return intstr.FromString(strconv.Itoa(v.Value) + "%")
	}
	return intstr.FromInt32(int32(v.Value))
}

func probe(p *spec.Probe) *corev1.Probe {
	if p == nil {
		return nil
	}
	handler := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.HTTP, Port: intstr.FromString("http")}}
	switch {
	case p.GRPC != nil:
		service := p.GRPC.Service
		handler = corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: AppPort, Service: &service}}
	case p.TCP:
		handler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}
	}
	return &corev1.Probe{
		ProbeHandler:        handler,
		PeriodSeconds:       max(1, seconds(p.Interval)),
		TimeoutSeconds:      max(1, seconds(p.Timeout)),
		FailureThreshold:    int32(max(1, p.FailureThreshold)),
		SuccessThreshold:    int32(max(1, p.SuccessThreshold)),
		InitialDelaySeconds: seconds(p.InitialDelay),
	}
}

// resources asks for what the spec limits: requests equal limits, so that the pod gets
// the Guaranteed class when both are set.
func resources(r spec.Resources) corev1.ResourceRequirements {
	list := corev1.ResourceList{}
	if r.MilliCPU > 0 {
		list[corev1.ResourceCPU] = *resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI)
	}
	if r.MemoryBytes > 0 {
		list[corev1.ResourceMemory] = *resource.NewQuantity(r.MemoryBytes, resource.BinarySI)
	}
	if len(list) == 0 {
		return corev1.ResourceRequirements{}
	}
	return corev1.ResourceRequirements{Limits: list, Requests: list.DeepCopy()}
}

func ingress(app *spec.App, meta metav1.ObjectMeta) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	path := networkingv1.HTTPIngressPath{Path: app.Route.PathPrefix, PathType: &prefix, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: app.App, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}
	var rules []networkingv1.IngressRule
	hosts := slices.Clone(app.Route.Hosts)
	slices.Sort(hosts)
	for _, h := range hosts {
		rules = append(rules, networkingv1.IngressRule{Host: h, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path}}}})
	}
	return &networkingv1.Ingress{TypeMeta: typeMeta("networking.k8s.io/v1", "Ingress"), ObjectMeta: meta, Spec: networkingv1.IngressSpec{Rules: rules}}
}

// networkPolicy lets in the app's port from the ingress controller's (or the Gateway's)
// namespace and tend's gateway pods, and the admin port from the monitoring namespace;
// out only DNS.
func networkPolicy(app *spec.App, meta metav1.ObjectMeta, sel map[string]string, gateway string) *networkingv1.NetworkPolicy {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	http, admin, dns := intstr.FromString("http"), intstr.FromString("admin"), intstr.FromInt32(53)
	return &networkingv1.NetworkPolicy{TypeMeta: typeMeta("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: meta, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: sel},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &http}}, From: []networkingv1.NetworkPolicyPeer{
				proxyPeer(gateway),
				{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "tend-gateway"}}},
			}},
			{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &admin}}, From: []networkingv1.NetworkPolicyPeer{
				{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}},
			}},
		},
		Egress: []networkingv1.NetworkPolicyEgressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
				PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}}}},
		}},
	}}
}

// podEnv tells kit where to listen: on the pod's IP (not only its loopback, where the
// kubelet's probes and Prometheus' scrapes do not reach), at PORT and ADMIN_PORT.
func podEnv() []corev1.EnvVar {
	podIP := &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}
	return []corev1.EnvVar{{Name: "HOST", ValueFrom: podIP}, {Name: "PORT", Value: strconv.Itoa(AppPort)},
		{Name: "ADMIN_HOST", ValueFrom: podIP}, {Name: "ADMIN_PORT", Value: strconv.Itoa(AdminPort)}}
}

func labels(app string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/managed-by": "tend"}
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func replicas(app *spec.App) int { return max(1, app.Instances) }

// seconds rounds a duration up to whole seconds, as Kubernetes counts them.
func seconds(d time.Duration) int32 { return int32(math.Ceil(d.Seconds())) }

func ptr[T any](v T) *T { return &v }

// kubeArgs writes the spec's $VAR references as Kubernetes expands them: $(VAR), from
// the container's environment.
func kubeArgs(args []string) []string {
	if len(args) == 0 {
		return nil
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = os.Expand(a, func(k string) string { return "$(" + k + ")" })
	}
	return out
}
