package k8s

import (
	"regexp"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tendhq/tend/internal/spec"
)

// RequestsMetric is the Pods metric an exported HPA scales on for autoscale.targets.rps:
// the seed's http_requests_per_second, which a metrics adapter (prometheus-adapter)
// must serve from the pods' request counters.
const RequestsMetric = "http_requests_per_second"

// hpa is the autoscaling/v2 HorizontalPodAutoscaler of an app with autoscale: (the
// seed's hpa.yaml shape): each target a metric, the behavior as the spec has it. A
// custom target becomes an External metric of its name, which a metrics adapter must
// serve from the target's query.
func hpa(app *spec.App, meta metav1.ObjectMeta) *autoscalingv2.HorizontalPodAutoscaler {
	as := app.Autoscale
	t := as.Targets
	var metrics []autoscalingv2.MetricSpec
	utilization := func(name corev1.ResourceName, pct int) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: name,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(pct))}}}
	}
	if t.CPU > 0 {
		metrics = append(metrics, utilization(corev1.ResourceCPU, t.CPU))
	}
	if t.Memory > 0 {
		metrics = append(metrics, utilization(corev1.ResourceMemory, t.Memory))
	}
	if t.RPS > 0 {
		metrics = append(metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: RequestsMetric},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: quantity(t.RPS)}}})
	}
	for _, c := range t.Custom {
		metrics = append(metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: MetricName(c.Name)},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: quantity(c.Target)}}})
	}
	return &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: typeMeta("autoscaling/v2", "HorizontalPodAutoscaler"), ObjectMeta: meta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: app.App},
			MinReplicas:    ptr(int32(as.Min)), MaxReplicas: int32(as.Max), Metrics: metrics,
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules(as.Behavior.ScaleUp), ScaleDown: rules(as.Behavior.ScaleDown)}}}
}

func rules(r spec.ScalingRules) *autoscalingv2.HPAScalingRules {
	sel := map[string]autoscalingv2.ScalingPolicySelect{"max": autoscalingv2.MaxChangePolicySelect, "min": autoscalingv2.MinChangePolicySelect,
		"disabled": autoscalingv2.DisabledPolicySelect}[r.Select]
	out := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(seconds(r.StabilizationWindow)), SelectPolicy: &sel}
	for _, p := range r.Policies {
		pol := autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: int32(p.Pods), PeriodSeconds: seconds(p.Period)}
		if p.Percent > 0 {
			pol.Type, pol.Value = autoscalingv2.PercentScalingPolicy, int32(p.Percent)
		}
		out.Policies = append(out.Policies, pol)
	}
	return out
}

// quantity is v as a Kubernetes quantity, in thousandths when it is not whole.
func quantity(v float64) *resource.Quantity {
	return resource.NewMilliQuantity(int64(v*1000+0.5), resource.DecimalSI)
}

var notMetricName = regexp.MustCompile(`[^a-z0-9_]+`)

// MetricName is a custom target's name as a metric name: lowercase letters, digits and _.
func MetricName(s string) string {
	return strings.Trim(notMetricName.ReplaceAllString(strings.ToLower(s), "_"), "_")
}
