package spec

import (
	"reflect"
	"testing"
	"time"
)

func TestAutoscaleTakesTheHPAsFieldsAndDefaults(t *testing.T) {
	src := `app: hello
build: {main: .}
resources: {cpu: 500m, memory: 256Mi}
autoscale:
  min: 2
  max: 10
  targets:
    cpu: 70%
    memory: 80%
    rps: 100
    custom: [{query: 'sum(queue_depth)', target: 30}]
  behavior:
    scaleUp:
      stabilizationWindow: 0s
      policies: [{pods: 4, period: 15s}, {percent: 100, period: 15s}]
      select: max
    scaleDown:
      stabilizationWindow: 5m
      policies: [{percent: 100, period: 15s}]
`
	a, err := Parse("tend.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Autoscale{Min: 2, Max: 10,
		Targets: AutoscaleTargets{CPU: 70, Memory: 80, RPS: 100, Custom: []CustomTarget{{Name: "custom[0]", Query: "sum(queue_depth)", Target: 30}}},
		Behavior: Behavior{
			ScaleUp:   ScalingRules{Policies: []ScalingPolicy{{Pods: 4, Period: 15 * time.Second}, {Percent: 100, Period: 15 * time.Second}}, Select: "max"},
			ScaleDown: ScalingRules{StabilizationWindow: 5 * time.Minute, Policies: []ScalingPolicy{{Percent: 100, Period: 15 * time.Second}}, Select: "max"},
		}}
	if !reflect.DeepEqual(a.Autoscale, want) {
		t.Errorf("autoscale\n got %+v\nwant %+v", a.Autoscale, want)
	}
	if a.Instances != 2 {
		t.Errorf("instances = %d, want autoscale.min (2) when instances is not written", a.Instances)
	}

	// only max: the HPA's defaults
	a, err = Parse("tend.yaml", []byte("app: hello\nbuild: {main: .}\nautoscale: {max: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := a.Autoscale
	if d.Min != 1 || d.Targets.CPU != 80 || d.Behavior.ScaleUp.StabilizationWindow != 0 || d.Behavior.ScaleDown.StabilizationWindow != 5*time.Minute ||
		!reflect.DeepEqual(d.Behavior.ScaleUp.Policies, defaultScaleUp()) || !reflect.DeepEqual(d.Behavior.ScaleDown.Policies, defaultScaleDown()) ||
		d.Behavior.ScaleUp.Select != "max" {
		t.Errorf("defaults: %+v", d)
	}
}
