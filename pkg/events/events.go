// Package events publishes and reads the observer events of flusso's
// services as CloudEvents 1.0 in binary mode over NATS message headers
// (ce-* headers, JSON data), on flusso.<pipeline>.events.<service>.<name>
// in the pipeline's events stream. It owns the encoding and the publisher;
// the meaning of each event is in docs/events.md and the types of catalog.go.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// TypeOf is the CloudEvents type of an event name: dev.flusso.<name>.v1.
func TypeOf(name string) string { return typePrefix + name + ".v1" }

const typePrefix = "dev.flusso."

// NameOf is the event name of a CloudEvents type dev.flusso.<name>.v<n>,
// whatever its version; false for a type that is not flusso's.
func NameOf(typ string) (string, bool) {
	rest, ok := strings.CutPrefix(typ, typePrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, ".v")
	if i <= 0 || i+2 == len(rest) || strings.Trim(rest[i+2:], "0123456789") != "" {
		return "", false
	}
	return rest[:i], true
}

// Publisher publishes the events of one service instance.
type Publisher struct {
	js       jetstream.JetStream
	names    changes.Names
	service  string
	instance string
}

// NewPublisher returns a publisher for service (capture, indexer, status)
// instance instance of the pipeline.
func NewPublisher(js jetstream.JetStream, names changes.Names, service, instance string) *Publisher {
	return &Publisher{js: js, names: names, service: service, instance: instance}
}

// Source is the CloudEvents source of the publisher's events.
func (p *Publisher) Source() string {
	return "/flusso/" + p.names.Pipeline + "/" + p.service + "/" + p.instance
}

// Publish sends an event and waits for JetStream to store it.
func (p *Publisher) Publish(ctx context.Context, name string, data any) error {
	msg, err := p.Message(name, data)
	if err != nil {
		return err
	}
	if _, err := p.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish event %s: %w", name, err)
	}
	return nil
}

// Emit publishes an event on a best-effort basis: observers must not stop
// the pipeline, so a failure (after 5 s) is only logged.
func (p *Publisher) Emit(ctx context.Context, log *slog.Logger, name string, data any) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.Publish(ctx, name, data); err != nil {
		log.Warn("event not published", "event", name, "err", err)
	}
}

// Message builds the NATS message of an event without sending it.
func (p *Publisher) Message(name string, data any) (*nats.Msg, error) {
	e := cloudevents.New(cloudevents.CloudEventsVersionV1)
	e.SetID(nuid.Next())
	e.SetType(TypeOf(name))
	e.SetSource(p.Source())
	e.SetSubject(name)
	e.SetTime(time.Now().UTC())
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return nil, fmt.Errorf("event %s: %w", name, err)
	}
	return ToMsg(p.names.EventSubject(p.service, name), e)
}

// ToMsg encodes an event in binary mode: attributes as ce- headers, the
// data as the body.
func ToMsg(subject string, e cloudevents.Event) (*nats.Msg, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Header.Set("ce-specversion", e.SpecVersion())
	msg.Header.Set("ce-id", e.ID())
	msg.Header.Set("ce-type", e.Type())
	msg.Header.Set("ce-source", e.Source())
	if s := e.Subject(); s != "" {
		msg.Header.Set("ce-subject", s)
	}
	if !e.Time().IsZero() {
		msg.Header.Set("ce-time", e.Time().UTC().Format(time.RFC3339Nano))
	}
	if ct := e.DataContentType(); ct != "" {
		msg.Header.Set("content-type", ct)
	}
	for k, v := range e.Extensions() {
		msg.Header.Set("ce-"+k, fmt.Sprint(v))
	}
	// Deduplicated by JetStream if a publish is retried.
	msg.Header.Set(nats.MsgIdHdr, e.ID())
	msg.Data = e.Data()
	return msg, nil
}

// FromMsg decodes a binary-mode CloudEvent from NATS headers.
func FromMsg(header nats.Header, data []byte) (cloudevents.Event, error) {
	e := cloudevents.New(header.Get("ce-specversion"))
	e.SetID(header.Get("ce-id"))
	e.SetType(header.Get("ce-type"))
	e.SetSource(header.Get("ce-source"))
	if s := header.Get("ce-subject"); s != "" {
		e.SetSubject(s)
	}
	if t := header.Get("ce-time"); t != "" {
		ts, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return e, fmt.Errorf("event %s: time %q: %w", e.ID(), t, err)
		}
		e.SetTime(ts)
	}
	for k, vs := range header {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "ce-") || len(vs) == 0 {
			continue
		}
		switch name := lk[3:]; name {
		case "specversion", "id", "type", "source", "subject", "time":
		default:
			e.SetExtension(name, vs[0])
		}
	}
	ct := header.Get("content-type")
	if ct == "" {
		ct = cloudevents.ApplicationJSON
	}
	if err := e.SetData(ct, json.RawMessage(data)); err != nil {
		return e, err
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("event: %w", err)
	}
	return e, nil
}
