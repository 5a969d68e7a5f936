package changes

// ReindexCommand is the body of a message on the control subject
// flusso.<pipeline>.control.reindex (Names.ControlSubject("reindex")): seed
// a new generation of the index and move its alias once seeded. The status
// service publishes it; the active capture acts on it. A command for an
// index that is unknown or disabled in the capture's config is dropped and
// reported as an error event.
type ReindexCommand struct {
	Index string `json:"index"`
}
