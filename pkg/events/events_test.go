package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
)

func TestEventRoundTrip(t *testing.T) {
	p := NewPublisher(nil, changes.NamesFor("stays"), "capture", "host-1")
	msg, err := p.Message(SlotLag, SlotLagData{Slot: "flusso", LagBytes: 4096, ConfirmedLSN: "0/10", CurrentLSN: "0/1010"})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "flusso.stays.events.capture.slot.lag" {
		t.Errorf("subject %s", msg.Subject)
	}
	for h, want := range map[string]string{
		"ce-specversion": "1.0", "ce-type": "dev.flusso.slot.lag.v1", "ce-source": "/flusso/stays/capture/host-1",
		"ce-subject": "slot.lag", "content-type": "application/json",
	} {
		if got := msg.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if msg.Header.Get("ce-id") == "" || msg.Header.Get("Nats-Msg-Id") != msg.Header.Get("ce-id") {
		t.Errorf("ids: ce-id %q, Nats-Msg-Id %q", msg.Header.Get("ce-id"), msg.Header.Get("Nats-Msg-Id"))
	}
	e, err := FromMsg(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	var data SlotLagData
	if err := json.Unmarshal(e.Data(), &data); err != nil || data.LagBytes != 4096 || data.Slot != "flusso" {
		t.Errorf("data %+v, %v", data, err)
	}
	if time.Since(e.Time()) > time.Minute || e.Type() != TypeOf(SlotLag) {
		t.Errorf("event %v", e)
	}
}

func TestFromMsgRefusesAnIncompleteEvent(t *testing.T) {
	p := NewPublisher(nil, changes.NamesFor("p"), "indexer", "i")
	msg, err := p.Message(Heartbeat, HeartbeatData{Instance: "i"})
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Del("ce-source")
	if _, err := FromMsg(msg.Header, msg.Data); err == nil {
		t.Error("an event without a source decoded")
	}
}
