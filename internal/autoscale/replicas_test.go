package autoscale

import (
	"fmt"
	"testing"
)

// instances makes n ready instances i0..i(n-1); pending and unready name the
// indexes that are so.
func instances(n int, pending, unready []int) []Instance {
	out := make([]Instance, n)
	for i := range out {
		out[i].ID = fmt.Sprintf("i%d", i)
	}
	for _, i := range pending {
		out[i].Pending = true
	}
	for _, i := range unready {
		out[i].Unready = true
	}
	return out
}

// cpu is a CPU metric with one core requested by each of the n instances and the
// given usage (millicores) for the first len(usage) of them.
func cpu(n int, target float64, usage ...float64) Metric {
	m := Metric{Name: "cpu", Kind: Utilization, Target: target, CPU: true, Values: map[string]float64{}, Requests: map[string]float64{}}
	for i := range n {
		m.Requests[fmt.Sprintf("i%d", i)] = 1000
	}
	for i, u := range usage {
		m.Values[fmt.Sprintf("i%d", i)] = u
	}
	return m
}

// requests sets the instances' requests (millicores) of a CPU metric.
func requests(m Metric, millicores ...float64) Metric {
	for i, r := range millicores {
		m.Requests[fmt.Sprintf("i%d", i)] = r
	}
	return m
}

// perInstance is an averageValue metric (the HPA's Pods metric).
func perInstance(target float64, values ...float64) Metric {
	m := Metric{Name: "qps", Kind: Average, Target: target, Values: map[string]float64{}}
	for i, v := range values {
		m.Values[fmt.Sprintf("i%d", i)] = v
	}
	return m
}

// The cases of the HPA's own test table (kubernetes/kubernetes,
// pkg/controller/podautoscaler/replica_calculator_test.go) that apply to tend: one
// container per pod, requests of one core. A failed or deleted pod is not given to
// Replicas at all (the controller leaves stopping instances out), so those cases are
// the plain ones with the remaining pods. A "hot CPU" pod (started within the CPU
// initialization period, its readiness changed within the metric window) is Unready.
func TestReplicasReproducesTheHPAsTestTable(t *testing.T) {
	cases := []struct {
		name      string // the HPA test it reproduces
		current   int
		instances []Instance
		metric    Metric
		want      int
		value     float64 // the utilization or average the HPA expects
	}{
		{"TestReplicaCalcScaleUp", 3, instances(3, nil, nil), cpu(3, 30, 300, 500, 700), 5, 50},
		{"TestReplicaCalcScaleUpUnreadyLessScale", 3, instances(3, nil, []int{0}), cpu(3, 30, 300, 500, 700), 4, 60},
		{"TestReplicaCalcScaleUpHotCpuLessScale", 3, instances(3, nil, []int{0}), cpu(3, 30, 300, 500, 700), 4, 60},
		{"TestReplicaCalcScaleUpUnreadyNoScale", 3, instances(3, nil, []int{1, 2}), cpu(3, 30, 400, 500, 700), 3, 40},
		{"TestReplicaCalcScaleUpIgnoresFailedPods", 2, instances(2, nil, nil), cpu(2, 30, 500, 700), 4, 60},
		{"TestReplicaCalcScaleUpIgnoresDeletionPods", 2, instances(2, nil, nil), cpu(2, 30, 500, 700), 4, 60},
		{"TestReplicaCalcScaleUpCM", 3, instances(3, nil, nil), perInstance(15000, 20000, 10000, 30000), 4, 20000},
		// CPU readiness does not count for other metrics: the unready pod's 30000 is averaged in
		{"TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", 3, instances(3, nil, []int{2}), perInstance(15000, 50000, 10000, 30000), 6, 30000},
		{"TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", 3, instances(3, nil, []int{0, 2}), perInstance(15000, 50000, 15000, 30000), 7, 31666.67},
		{"TestReplicaCalcScaleDown", 5, instances(5, nil, nil), cpu(5, 50, 100, 300, 500, 250, 250), 3, 28},
		{"TestReplicaCalcScaleDownCM", 5, instances(5, nil, nil), perInstance(20000, 12000, 12000, 12000, 12000, 12000), 3, 12000},
		{"TestReplicaCalcScaleDownExcludeUnreadyPods", 5, instances(5, nil, []int{3, 4}), cpu(5, 50, 100, 300, 500, 250, 250), 2, 30},
		{"TestReplicaCalcScaleDownExcludeUnscheduledPods", 5, instances(5, []int{1, 2, 3, 4}, nil), cpu(5, 50, 100), 1, 10},
		{"TestReplicaCalcScaleDownIgnoreHotCpuPods", 5, instances(5, nil, []int{3, 4}), cpu(5, 50, 100, 300, 500, 250, 250), 2, 30},
		{"TestReplicaCalcTolerance", 3, instances(3, nil, nil), requests(cpu(3, 100, 1010, 1030, 1020), 900, 1000, 1100), 3, 102},
		{"TestReplicaCalcToleranceCM", 3, instances(3, nil, nil), perInstance(20000, 20000, 21000, 21000), 3, 20666.67},
		{"TestReplicaCalcSuperfluousMetrics", 4, instances(4, nil, nil), cpu(4, 100, 4000, 9500, 3000, 7000, 3200, 2000), 24, 587.5},
		{"TestReplicaCalcMissingMetrics", 4, instances(4, nil, nil), cpu(4, 100, 400, 95), 3, 24.75},
		// missing pods: 100% of the request on a scale down, 0 on a scale up
		{"TestReplicaCalcMissingMetricsNoChangeEq", 2, instances(2, nil, nil), cpu(2, 100, 1000), 2, 100},
		{"TestReplicaCalcMissingMetricsNoChangeGt", 2, instances(2, nil, nil), cpu(2, 100, 1900), 2, 190},
		{"TestReplicaCalcMissingMetricsNoChangeLt", 2, instances(2, nil, nil), cpu(2, 100, 600), 2, 60},
		{"TestReplicaCalcMissingMetricsUnreadyChange", 3, instances(3, nil, []int{0}), cpu(3, 50, 100, 450), 3, 45},
		{"TestReplicaCalcMissingMetricsUnreadyScaleUp", 3, instances(3, nil, []int{0}), cpu(3, 50, 100, 2000), 4, 200},
		{"TestReplicaCalcMissingMetricsUnreadyScaleDown", 4, instances(4, nil, []int{0}), cpu(4, 50, 100, 100, 100), 3, 10},
		{"TestReplicaCalcMissingMetricsScaleDownTargetOver100", 4, instances(4, nil, []int{0}), requests(cpu(4, 300, 200, 100, 100), 1000, 1000, 2000, 2000), 2, 6.67},
		{"TestReplicaCalcDuringRollingUpdateWithMaxSurge", 2, instances(3, nil, nil), cpu(3, 50, 100, 100), 2, 10},
		{"TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM", 2, instances(3, nil, nil), perInstance(17000, 10000, 10000), 2, 10000},
		{"TestPlainMetricReplicaCalcMissingMetricsNoChangeEq", 5, instances(5, nil, nil), perInstance(20000, 20000, 19000, 21000), 5, 20000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Replicas(tc.current, tc.instances, tc.metric)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Replicas != tc.want {
				t.Errorf("replicas = %d, want %d (%s)", r.Replicas, tc.want, r)
			}
			if d := r.Value - tc.value; d > 0.01 || d < -0.01 {
				t.Errorf("value = %.2f, want %.2f", r.Value, tc.value)
			}
		})
	}
}

// The HPA's own test table for external per-pod metrics (a total with a target per
// instance: TestReplicaCalcScaleUpPerPodCMExternal, TestReplicaCalcScaleDownPerPodCMExternal).
func TestReplicasOfATotalDividesItByTheTargetPerInstance(t *testing.T) {
	for _, tc := range []struct {
		current  int
		sum, per float64
		want     int
	}{
		{3, 8600, 2150, 4},
		{5, 8600, 2867, 3},
		{4, 8600, 2150, 4}, // ratio 1: the tolerance keeps 4
	} {
		r := Replicas(tc.current, nil, Metric{Name: "queue", Kind: Total, Target: tc.per, Sum: tc.sum})
		if r.Replicas != tc.want {
			t.Errorf("%d instances, total %.0f, %.0f per instance: %d, want %d", tc.current, tc.sum, tc.per, r.Replicas, tc.want)
		}
	}
}

// The documentation's example (kubernetes.io, Horizontal Pod Autoscaling, "Algorithm
// details"): a value of 200m for a target of 100m doubles the count, 50m halves it.
func TestReplicasFollowsTheDocumentedFormula(t *testing.T) {
	for _, tc := range []struct {
		value float64
		want  int
	}{{200, 8}, {50, 2}, {105, 4}, {95, 4}} {
		m := perInstance(100, tc.value, tc.value, tc.value, tc.value)
		if r := Replicas(4, instances(4, nil, nil), m); r.Replicas != tc.want {
			t.Errorf("4 instances at %.0f for a target of 100: %d, want %d", tc.value, r.Replicas, tc.want)
		}
	}
}

func TestReplicasWithoutSamplesSaysSo(t *testing.T) {
	r := Replicas(2, instances(2, []int{0, 1}, nil), cpu(2, 50, 100, 100))
	if r.Err == nil || r.Replicas != 2 {
		t.Errorf("only pending instances: %+v, want ErrNoData and the current count", r)
	}
}

// During a canary the app runs its count plus the canary's instances: the load's need
// is taken against the count, so that a load the count serves on target (200 req/s for
// 4 × 50) keeps it, measured over 5 instances or not.
func TestDuringARolloutTheNeedIsTakenAgainstTheAppsCount(t *testing.T) {
	for _, tc := range []struct {
		perInstance float64 // over 4 stable + 1 canary
		want        int
	}{{40, 4}, {41.2, 4}, {43, 4}, {50, 5}, {30, 3}} {
		m := perInstance(50, tc.perInstance, tc.perInstance, tc.perInstance, tc.perInstance, tc.perInstance)
		r := DuringRollout(Replicas(4, instances(5, nil, nil), m), 4)
		if r.Replicas != tc.want {
			t.Errorf("5 instances at %.1f each (target 50), the app's count 4: %d, want %d", tc.perInstance, r.Replicas, tc.want)
		}
	}
	// no rollout: as many measured as counted, the HPA's answer unchanged
	m := perInstance(50, 60, 60, 60, 60)
	if r := DuringRollout(Replicas(4, instances(4, nil, nil), m), 4); r.Replicas != 5 {
		t.Errorf("4 at 60: %d, want 5", r.Replicas)
	}
}
