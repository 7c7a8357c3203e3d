package v1

// The values of each enum, for the API's OpenAPI description (GET /v1/openapi.json): a
// string type of this package with a Values method is a closed enum, one with a Known
// method an open one (other values travel too). TestEveryEnumConstantIsListed fails
// when a constant is not in its type's list.

// Values lists the strategies.
func (Strategy) Values() []Strategy { return []Strategy{Rolling, BlueGreen, Canary, Initial} }

// Values lists the rollout phases.
func (Phase) Values() []Phase {
	return []Phase{Progressing, Paused, Completed, Reverting, RolledBack, Aborted, Failed}
}

// Values lists the analysis results.
func (Result) Values() []Result { return []Result{Pass, Fail, Inconclusive, Waiting} }

// Values lists the check results.
func (CheckResult) Values() []CheckResult { return []CheckResult{CheckPass, CheckFail, CheckNoData} }

// Values lists the instance states.
func (InstanceState) Values() []InstanceState {
	return []InstanceState{Starting, Ready, Unready, Stopping, Backoff}
}

// Values lists the incident statuses.
func (IncidentStatus) Values() []IncidentStatus {
	return []IncidentStatus{IncidentTriggered, IncidentAcknowledged, IncidentResolved}
}

// Known lists the severities of tend's built-in rules; a rule may set any other.
func (Severity) Known() []Severity { return []Severity{SeverityCritical, SeverityWarning} }

// Values lists the alert statuses.
func (AlertStatus) Values() []AlertStatus { return []AlertStatus{AlertFiring, AlertResolved} }

// Values lists the timeline entry kinds.
func (EntryKind) Values() []EntryKind {
	return []EntryKind{EntryOpened, EntryAlertFired, EntryAlertResolved, EntryNotified, EntryEscalated, EntryAction,
		EntrySkipped, EntryComment, EntryAcknowledged, EntryRetriggered, EntryResolved}
}

// Values lists the runbook run results.
func (RunResult) Values() []RunResult {
	return []RunResult{RunPending, RunSucceeded, RunFailed, RunSkipped, RunDryRun}
}

// Values lists the runbook step kinds.
func (StepKind) Values() []StepKind {
	return []StepKind{StepRollback, StepRestart, StepRestartInstance, StepScale, StepProfile, StepCommand, StepWebhook}
}

// Values lists the incident actions.
func (IncidentAction) Values() []IncidentAction {
	return []IncidentAction{IncidentAck, IncidentResolve, IncidentComment}
}

// Values lists the certificate states.
func (CertState) Values() []CertState {
	return []CertState{CertValid, CertPending, CertFailing, CertExpired, CertUnclaimed}
}

// Values lists the certificate sources.
func (CertSource) Values() []CertSource { return []CertSource{CertFromACME, CertFromFile} }

// Values lists the span kinds.
func (SpanKind) Values() []SpanKind {
	return []SpanKind{SpanServer, SpanClient, SpanInternal, SpanProducer, SpanConsumer}
}
