package v1

import "time"

// Autoscale is an autoscaled app's bounds and what the autoscaler decided at its last
// sync.
type Autoscale struct {
	Min int `json:"min"`
	Max int `json:"max"`
	// Floor is `tend scale`'s count: the autoscaler keeps at least so many until the
	// next deploy.
	Floor   int `json:"floor,omitempty"`
	Current int `json:"current"`
	// Desired is the last sync's count (the current one before the first sync).
	Desired int `json:"desired"`
	// Metrics are each target's value at the last sync.
	Metrics []AutoscaleMetric `json:"metrics,omitempty"`
	// LastSync is when the autoscaler last decided (absent before its first sync).
	LastSync time.Time `json:"lastSync,omitzero"`
	// Reason is the last decision in words.
	Reason string `json:"reason,omitempty"`
	// Limit is what held the last decision back: stabilized, policy, max or min.
	Limit string `json:"limit,omitempty"`
	// Note says what a target is measured against when the spec leaves it open.
	Note string `json:"note,omitempty"`
}

// AutoscaleMetric is one autoscale target against its value.
type AutoscaleMetric struct {
	Name string `json:"name"`
	// Value and Target are in Unit: "%" (a share of resources.cpu or memory), "req/s",
	// or "" (a custom query's unit).
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	Unit   string  `json:"unit,omitempty"`
	// Ratio is Value / Target.
	Ratio float64 `json:"ratio"`
	// Instances is how many instances the value is over; Replicas the count it asks for.
	Instances int `json:"instances"`
	Replicas  int `json:"replicas"`
	// Error says why the metric gave no count.
	Error string `json:"error,omitempty"`
}

// AutoscaleHistory is what `tend autoscale APP` shows: the autoscaler's state and its
// recent changes of the app's count, oldest first.
type AutoscaleHistory struct {
	App       string            `json:"app"`
	Autoscale *Autoscale        `json:"autoscale,omitempty"`
	Changes   []AutoscaleChange `json:"changes"`
}

// AutoscaleChange is one change of the app's count by the autoscaler.
type AutoscaleChange struct {
	At   time.Time `json:"at"`
	From int       `json:"from"`
	To   int       `json:"to"`
	// Metric is the target that asked for the most instances.
	Metric string `json:"metric,omitempty"`
	// Limit is what held the change back: stabilized, policy, max, min.
	Limit  string `json:"limit,omitempty"`
	Reason string `json:"reason"`
}

// Sizing is resources advice from what the app's busiest instance used over Window
// (the VPA's recommender, in recommendation mode): CPU at its 90th percentile, memory
// at its peak plus 15%.
type Sizing struct {
	Window Duration `json:"window"`
	// Observed is how much of the window has samples.
	Observed Duration `json:"observed"`
	// CPUP90 and CPUPeak are in millicores, MemoryPeak in bytes.
	CPUP90     int64 `json:"cpuP90Millicores"`
	CPUPeak    int64 `json:"cpuPeakMillicores"`
	MemoryPeak int64 `json:"memoryPeakBytes"`
	// Recommended are resources as tend.yaml writes them ("130m", "115Mi"); Spec the
	// spec's ("" when not set).
	Recommended Resources `json:"recommended"`
	Spec        Resources `json:"spec"`
	// Warnings say when the spec's limits are likely to throttle or OOM-kill the app.
	Warnings []string `json:"warnings,omitempty"`
	// Error says why there is no advice (too few samples, no metrics).
	Error string `json:"error,omitempty"`
}

// Resources are a CPU and a memory amount as tend.yaml writes them.
type Resources struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}
