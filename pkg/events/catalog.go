package events

// The event catalogue: each event's name (its type is dev.flusso.<name>.v1
// and its subject flusso.<pipeline>.events.<service>.<name>) and the JSON
// of its data. Counters in events are deltas since the service's previous
// event of that name, so that several replicas sum up.
const (
	Started           = "started"            // a service instance started
	Stopped           = "stopped"            // a service instance stopped cleanly
	Heartbeat         = "heartbeat"          // a service instance is alive
	Error             = "error"              // something failed; Fatal says whether the service stops
	SlotLag           = "slot.lag"           // how far the slot is behind the WAL
	ChangesCaptured   = "changes.captured"   // changes the capture published since its last such event
	LiveStarted       = "live.started"       // the capture streams changes
	BackfillStarted   = "backfill.started"   // an index generation is being seeded
	BackfillProgress  = "backfill.progress"  // tasks of a seeding done
	IndexSeeded       = "index.seeded"       // an index generation is seeded and serves reads
	BackfillCompleted = "backfill.completed" // every index is seeded
	IndexesEnsured    = "indexes.ensured"    // the sink's indexes and aliases exist
	BatchCommitted    = "batch.committed"    // an indexer wrote a batch and acked it
	DocumentsRejected = "documents.rejected" // a sink rejected documents
)

// catalogue pairs each event with its data type, in the order above: what
// the documentation test and decoders go by.
var catalogue = []struct {
	name string
	data func() any
}{
	{Started, func() any { return new(StartedData) }},
	{Stopped, func() any { return new(StoppedData) }},
	{Heartbeat, func() any { return new(HeartbeatData) }},
	{Error, func() any { return new(ErrorData) }},
	{SlotLag, func() any { return new(SlotLagData) }},
	{ChangesCaptured, func() any { return new(ChangesCapturedData) }},
	{LiveStarted, func() any { return new(LiveStartedData) }},
	{BackfillStarted, func() any { return new(BackfillStartedData) }},
	{BackfillProgress, func() any { return new(BackfillProgressData) }},
	{IndexSeeded, func() any { return new(IndexSeededData) }},
	{BackfillCompleted, func() any { return new(BackfillCompletedData) }},
	{IndexesEnsured, func() any { return new(IndexesEnsuredData) }},
	{BatchCommitted, func() any { return new(BatchCommittedData) }},
	{DocumentsRejected, func() any { return new(DocumentsRejectedData) }},
}

// Names lists the names of the catalogue's events.
func Names() []string {
	out := make([]string, len(catalogue))
	for i, e := range catalogue {
		out[i] = e.name
	}
	return out
}

// NewData returns a pointer to a zero value of the data type of the event
// name, ready to decode into; nil for a name outside the catalogue.
func NewData(name string) any {
	for _, e := range catalogue {
		if e.name == name {
			return e.data()
		}
	}
	return nil
}

// StartedData is the data of Started.
type StartedData struct {
	Instance string   `json:"instance"`
	Version  string   `json:"version"`
	Indexes  []string `json:"indexes"`
}

// StoppedData is the data of Stopped.
type StoppedData struct {
	Instance string `json:"instance"`
	Reason   string `json:"reason"`
}

// HeartbeatData is the data of Heartbeat.
type HeartbeatData struct {
	Instance      string `json:"instance"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	// Role is what the instance does now: for the capture "active" or
	// "standby".
	Role string `json:"role,omitempty"`
}

// ErrorData is the data of Error.
type ErrorData struct {
	Instance string `json:"instance"`
	// Component names where it happened: postgres, nats, slot, backfill…
	Component string `json:"component"`
	Message   string `json:"message"`
	Fatal     bool   `json:"fatal"`
}

// SlotLagData is the data of SlotLag.
type SlotLagData struct {
	Slot         string `json:"slot"`
	LagBytes     int64  `json:"lag_bytes"`
	ConfirmedLSN string `json:"confirmed_lsn"`
	CurrentLSN   string `json:"current_lsn"`
}

// ChangesCapturedData is the data of ChangesCaptured.
type ChangesCapturedData struct {
	Changes      int64            `json:"changes"`
	Transactions int64            `json:"transactions"`
	Tables       map[string]int64 `json:"tables"` // schema.table -> changes
	LastLSN      string           `json:"last_lsn"`
	ConfirmedLSN string           `json:"confirmed_lsn"`
}

// LiveStartedData is the data of LiveStarted.
type LiveStartedData struct {
	Slot     string `json:"slot"`
	StartLSN string `json:"start_lsn"`
}

// BackfillStartedData is the data of BackfillStarted.
type BackfillStartedData struct {
	Index       string `json:"index"`
	Hash        string `json:"hash"`
	Generation  int    `json:"generation"`
	Reason      string `json:"reason"` // first run, new schema, reindex, slot lost, truncate
	Tasks       int    `json:"tasks"`
	Keys        int64  `json:"keys"`
	SnapshotLSN string `json:"snapshot_lsn"`
}

// BackfillProgressData is the data of BackfillProgress.
type BackfillProgressData struct {
	Index      string `json:"index"`
	Hash       string `json:"hash"`
	Generation int    `json:"generation"`
	Task       int    `json:"task"`
	Tasks      int    `json:"tasks"`
	Keys       int64  `json:"keys"`      // keys of this task
	Documents  int64  `json:"documents"` // documents it built
}

// IndexSeededData is the data of IndexSeeded.
type IndexSeededData struct {
	Index      string `json:"index"`
	Hash       string `json:"hash"`
	Generation int    `json:"generation"`
}

// BackfillCompletedData is the data of BackfillCompleted.
type BackfillCompletedData struct {
	Indexes []string `json:"indexes"` // every enabled index, all seeded
}

// IndexesEnsuredData is the data of IndexesEnsured: the OpenSearch indexes
// and aliases (or a sink's equivalent) of one index in one sink.
type IndexesEnsuredData struct {
	Instance string `json:"instance"`
	Sink     string `json:"sink"`
	Index    string `json:"index"`
	// Write are the generations documents are written to: two while a
	// reindex of the same schema runs.
	Write []GenerationRef `json:"write"`
	// Serving is the generation reads go to; null before the first is
	// seeded.
	Serving *GenerationRef `json:"serving"`
}

// GenerationRef names one generation of an index, whose OpenSearch index
// is {prefix}{index}_{hash}_{generation}.
type GenerationRef struct {
	Hash       string `json:"hash"`
	Generation int    `json:"generation"`
}

// BatchCommittedData is the data of BatchCommitted.
type BatchCommittedData struct {
	Instance  string `json:"instance"`
	Changes   int    `json:"changes"`
	Tasks     int    `json:"tasks"`
	Documents int    `json:"documents"`
	// Indexes counts the documents written per index.
	Indexes     map[string]int `json:"indexes"`
	FlushMicros int64          `json:"flush_micros"`
}

// DocumentsRejectedData is the data of DocumentsRejected.
type DocumentsRejectedData struct {
	Instance string   `json:"instance"`
	Index    string   `json:"index"`
	Sink     string   `json:"sink"`
	Count    int      `json:"count"`
	IDs      []string `json:"ids"`
}
