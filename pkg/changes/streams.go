package changes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names are the subjects, streams and bucket of one pipeline.
type Names struct {
	Pipeline string
}

// NamesFor returns the names of a pipeline (an identifier, lower case).
func NamesFor(pipeline string) Names { return Names{Pipeline: pipeline} }

func (n Names) upper() string { return strings.ToUpper(n.Pipeline) }

// ChangeSubject is where the changes of a table go:
// flusso.<pipeline>.changes.<schema>.<table>.
func (n Names) ChangeSubject(schema, table string) string {
	return "flusso." + n.Pipeline + ".changes." + schema + "." + table
}

// TaskSubject is where the backfill tasks of an index go:
// flusso.<pipeline>.backfill.<index>.
func (n Names) TaskSubject(index string) string {
	return "flusso." + n.Pipeline + ".backfill." + index
}

// EventSubject is where a service's events go:
// flusso.<pipeline>.events.<service>.<name>.
func (n Names) EventSubject(service, name string) string {
	return "flusso." + n.Pipeline + ".events." + service + "." + name
}

// DLQSubject is where the documents an index rejects go.
func (n Names) DLQSubject(index string) string {
	return "flusso." + n.Pipeline + ".dlq." + index
}

// ControlSubject carries commands to the capture, such as a reindex.
func (n Names) ControlSubject(command string) string {
	return "flusso." + n.Pipeline + ".control." + command
}

// KindOf tells a change from a task by its subject.
func (n Names) KindOf(subject string) (Kind, bool) {
	switch {
	case strings.HasPrefix(subject, "flusso."+n.Pipeline+".changes."):
		return KindChange, true
	case strings.HasPrefix(subject, "flusso."+n.Pipeline+".backfill."):
		return KindTask, true
	}
	return "", false
}

// ChangesStream holds changes and backfill tasks; one consumer reads both.
func (n Names) ChangesStream() string { return "FLUSSO_" + n.upper() + "_CHANGES" }

// EventsStream holds the CloudEvents of every service.
func (n Names) EventsStream() string { return "FLUSSO_" + n.upper() + "_EVENTS" }

// DLQStream holds rejected documents.
func (n Names) DLQStream() string { return "FLUSSO_" + n.upper() + "_DLQ" }

// ControlStream holds control commands until the capture acts on them.
func (n Names) ControlStream() string { return "FLUSSO_" + n.upper() + "_CONTROL" }

// StateBucket is the key-value bucket of per-index state (generation,
// seeding progress) shared by the services.
func (n Names) StateBucket() string { return "FLUSSO_" + n.upper() + "_STATE" }

// StreamOptions size the streams (from the [nats] settings).
type StreamOptions struct {
	Replicas        int
	MaxAge          time.Duration // 0: no age limit
	MaxBytes        int64         // -1: unlimited
	DuplicateWindow time.Duration
}

// EnsureStreams creates the pipeline's streams and state bucket, or updates
// their limits. A full changes stream refuses new messages (the capture then
// waits) rather than dropping unconsumed ones.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, n Names, o StreamOptions) error {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = -1
	}
	base := "flusso." + n.Pipeline
	streams := []jetstream.StreamConfig{
		{
			Name: n.ChangesStream(), Description: "flusso " + n.Pipeline + ": row changes and backfill tasks",
			Subjects: []string{base + ".changes.>", base + ".backfill.>"},
			Storage:  jetstream.FileStorage, Replicas: o.Replicas, Retention: jetstream.LimitsPolicy,
			Discard: jetstream.DiscardNew, MaxAge: o.MaxAge, MaxBytes: o.MaxBytes, Duplicates: o.DuplicateWindow,
		},
		{
			Name: n.EventsStream(), Description: "flusso " + n.Pipeline + ": CloudEvents of the services",
			Subjects: []string{base + ".events.>"},
			Storage:  jetstream.FileStorage, Replicas: o.Replicas, Retention: jetstream.LimitsPolicy,
			// Observers may lag; old events make way for new ones.
			Discard: jetstream.DiscardOld, MaxAge: maxDuration(o.MaxAge, 24*time.Hour), MaxBytes: 256 << 20, Duplicates: o.DuplicateWindow,
		},
		{
			Name: n.DLQStream(), Description: "flusso " + n.Pipeline + ": documents the sinks rejected",
			Subjects: []string{base + ".dlq.>"},
			Storage:  jetstream.FileStorage, Replicas: o.Replicas, Retention: jetstream.LimitsPolicy,
			Discard: jetstream.DiscardNew, MaxAge: o.MaxAge, MaxBytes: o.MaxBytes, Duplicates: o.DuplicateWindow,
		},
		{
			Name: n.ControlStream(), Description: "flusso " + n.Pipeline + ": commands to the capture",
			Subjects: []string{base + ".control.>"},
			Storage:  jetstream.FileStorage, Replicas: o.Replicas, Retention: jetstream.WorkQueuePolicy,
			Duplicates: o.DuplicateWindow,
		},
	}
	for _, cfg := range streams {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	if err := ensureBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: n.StateBucket(), Description: "flusso " + n.Pipeline + ": index state",
		Storage: jetstream.FileStorage, Replicas: o.Replicas, History: 5,
	}); err != nil {
		return fmt.Errorf("bucket %s: %w", n.StateBucket(), err)
	}
	return nil
}

// ensureBucket creates a key-value bucket, or updates it only when its
// history or replicas differ, for the reason ensureStream gives.
func ensureBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) error {
	kv, err := js.KeyValue(ctx, want.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, want)
		if errors.Is(err, jetstream.ErrBucketExists) {
			return ensureBucket(ctx, js, want) // another service created it first
		}
		return err
	}
	if err != nil {
		return err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return err
	}
	if st.History() == int64(want.History) && st.Config().Replicas == want.Replicas {
		return nil
	}
	_, err = js.UpdateKeyValue(ctx, want)
	return err
}

// ensureStream creates a stream, or updates it only when its limits differ:
// every service ensures the streams at start, and an update that changes
// nothing still makes the server rewrite its configuration under the feet
// of consumers being created.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, want) // another service created it first
		}
		return err
	}
	if err != nil {
		return err
	}
	have := s.CachedInfo().Config
	// The server reports an unset size limit as -1.
	if want.MaxBytes == 0 {
		want.MaxBytes = -1
	}
	if slices.Equal(have.Subjects, want.Subjects) && have.Description == want.Description &&
		have.Replicas == want.Replicas && have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
		have.Duplicates == want.Duplicates && have.Discard == want.Discard && have.Retention == want.Retention {
		return nil
	}
	_, err = js.UpdateStream(ctx, want)
	return err
}

func maxDuration(a, b time.Duration) time.Duration {
	if a == 0 || a > b {
		return a
	}
	return b
}

// IsStreamFull reports whether a publish failed because the stream reached
// its size limit.
func IsStreamFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum")
}

// SchemaKey is the state bucket's key of an index's schema source of one
// hash (the capture records it; indexers read it while a newer schema of
// the index seeds).
func SchemaKey(index, hash string) string { return "schema." + index + "." + hash }
