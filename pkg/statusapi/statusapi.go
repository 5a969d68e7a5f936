// Package statusapi is the contract of the status service's HTTP surfaces:
// the JSON shape of /status (and of each message of its server-sent-events
// stream), of /indexes and /reindex, and a client for them that the command
// line uses. The service that fills it in is services/status.
package statusapi

import "time"

// Phases of the pipeline.
const (
	PhaseStarting    = "starting"    // no capture has streamed yet
	PhaseBackfilling = "backfilling" // the capture streams; some enabled index is not seeded
	PhaseLive        = "live"        // the capture streams; every index is seeded
	PhaseStopped     = "stopped"     // the last capture stopped and none has started since
)

// Index states.
const (
	IndexPending     = "pending"
	IndexBackfilling = "backfilling"
	IndexSeeded      = "seeded"
)

// Status is GET /status: the pipeline as the events stream tells it. The
// first fields are FORMAT.md's; the rest are flusso additions.
type Status struct {
	Phase         string `json:"phase"`
	UptimeSeconds int64  `json:"uptime_seconds"` // of this status service
	// Indexes maps each index to its state (pending, backfilling, seeded).
	Indexes              map[string]string `json:"indexes"`
	ChangesCaptured      int64             `json:"changes_captured"`
	ChangesCommitted     int64             `json:"changes_committed"`
	ChangesInFlight      int64             `json:"changes_in_flight"`
	DocumentsBuilt       int64             `json:"documents_built"`
	DocumentsQuarantined int64             `json:"documents_quarantined"`
	Batches              int64             `json:"batches"`
	LastFlushMicros      int64             `json:"last_flush_micros"`
	SlotLagBytes         int64             `json:"slot_lag_bytes"`
	Errors               int64             `json:"errors"`
	LastError            *ErrorInfo        `json:"last_error"`

	Pipeline string `json:"pipeline"`
	// Backfill is the progress of every index generation seeded or being
	// seeded, by index (the latest generation of each).
	Backfill map[string]*Backfill `json:"backfill"`
	// Replicas are the service instances seen, by CloudEvents source.
	Replicas []Replica `json:"replicas"`
	// DeadLetters is the number of messages in the dead-letter stream.
	DeadLetters int64 `json:"dead_letters"`
	// DocumentsByIndex counts the documents written, per index.
	DocumentsByIndex map[string]int64 `json:"documents_by_index"`
	// QuarantinedByIndex counts the documents rejected under skip, per index.
	QuarantinedByIndex map[string]int64 `json:"quarantined_by_index"`
	// RecentErrors are the last errors, newest first (at most 20).
	RecentErrors []ErrorInfo `json:"recent_errors"`
	// Events is how many distinct events were folded in.
	Events int64 `json:"events"`
	// UpdatedAt is the time of the latest event folded in.
	UpdatedAt *time.Time `json:"updated_at"`
}

// ErrorInfo is one error event.
type ErrorInfo struct {
	Time      time.Time `json:"time"`
	Source    string    `json:"source"` // CloudEvents source: /flusso/<p>/<service>/<instance>
	Component string    `json:"component"`
	Message   string    `json:"message"`
	Fatal     bool      `json:"fatal"`
}

// Backfill is the seeding progress of one index generation.
type Backfill struct {
	Hash       string     `json:"hash"`
	Generation int        `json:"generation"`
	Reason     string     `json:"reason"`
	State      string     `json:"state"` // backfilling or seeded
	TasksDone  int        `json:"tasks_done"`
	TasksTotal int        `json:"tasks_total"`
	Keys       int64      `json:"keys"`      // root keys the seeding covers
	Documents  int64      `json:"documents"` // documents built by the tasks done
	StartedAt  *time.Time `json:"started_at"`
	SeededAt   *time.Time `json:"seeded_at"`
	// DocsPerSecond is the documents built per second since the start;
	// ETASeconds the time left at that rate (nil when unknown or done).
	DocsPerSecond float64  `json:"docs_per_second"`
	ETASeconds    *float64 `json:"eta_seconds"`
}

// Replica is one service instance seen in the events.
type Replica struct {
	Source        string     `json:"source"`
	Service       string     `json:"service"` // capture, indexer, status
	Instance      string     `json:"instance"`
	Role          string     `json:"role,omitempty"` // capture: active or standby
	StartedAt     *time.Time `json:"started_at"`
	LastSeen      time.Time  `json:"last_seen"` // time of its latest event
	LastHeartbeat *time.Time `json:"last_heartbeat"`
	Stopped       bool       `json:"stopped"`
	// Alive is false once no event came for three heartbeat intervals, or
	// after it stopped.
	Alive   bool  `json:"alive"`
	Batches int64 `json:"batches,omitempty"` // indexer: batches it committed
}

// ReindexResponse is the body of POST /reindex's 202.
type ReindexResponse struct {
	Index  string `json:"index"`
	Status string `json:"status"` // "queued"
}

// ErrorResponse is the body of every 4xx and 5xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
}
