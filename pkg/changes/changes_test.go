package changes

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func str(s string) *string { return &s }

func TestLSN(t *testing.T) {
	for _, tc := range []struct {
		text string
		lsn  LSN
	}{{"0/0", 0}, {"16/B374D848", 0x16_B374D848}, {"FFFFFFFF/FFFFFFFF", ^LSN(0)}} {
		got, err := ParseLSN(tc.text)
		if err != nil || got != tc.lsn || got.String() != tc.text {
			t.Errorf("ParseLSN(%q) = %v (%s), %v", tc.text, uint64(got), got, err)
		}
	}
	for _, bad := range []string{"", "16", "16/", "/1", "G/1", "1/100000000", "-1/1"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) succeeded", bad)
		}
	}
}

func TestChangeRoundTrip(t *testing.T) {
	c := &Change{
		LSN: 0x1_0000_2000, Seq: 3, XID: 77, CommitTime: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Schema: "stays", Table: "bookings", Op: Update,
		KeyColumns: []string{"id"}, Key: []string{"42"}, OldKey: []string{"41"},
		Old: map[string]*string{"id": str("41"), "note": nil},
	}
	data, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"lsn":"1/2000","seq":3,"xid":77,"commit_time":"2024-01-02T03:04:05Z","schema":"stays","table":"bookings","op":"update","key_columns":["id"],"key":["42"],"old_key":["41"],"old":{"id":"41","note":null}}`
	if string(data) != want {
		t.Errorf("encoded\n got  %s\n want %s", data, want)
	}
	back, err := DecodeChange(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.MsgID() != "c:1/2000:3" || back.Old["note"] != nil || *back.Old["id"] != "41" || back.LSN != c.LSN {
		t.Errorf("decoded %+v", back)
	}
}

func TestTaskRoundTrip(t *testing.T) {
	task := &Task{Index: "night_rates", Hash: "4f53db69", SnapshotLSN: 0x2A, Seq: 2, Tasks: 3, KeyColumns: []string{"listing_id", "night"},
		From: []string{"0a", "2024-07-01"}, To: []string{"0f", "2024-07-09"}, Keys: 5000}
	data, err := Encode(task)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeTask(data)
	if err != nil || back.MsgID() != "b:night_rates:4f53db69:0/2A:2" || strings.Join(back.To, ",") != "0f,2024-07-09" {
		t.Fatalf("%+v, %v", back, err)
	}
}

func TestDecodeRefusesWhatItCannotTrust(t *testing.T) {
	for name, tc := range map[string]struct {
		json, want string
		task       bool
	}{
		"another version":       {json: `{"v":2,"schema":"s","table":"t","op":"insert","key_columns":["id"],"key":["1"]}`, want: "version 2"},
		"no table":              {json: `{"v":1,"op":"insert","key_columns":["id"],"key":["1"]}`, want: "no table"},
		"unknown op":            {json: `{"v":1,"schema":"s","table":"t","op":"upsert","key_columns":["id"],"key":["1"]}`, want: `unknown op "upsert"`},
		"key without columns":   {json: `{"v":1,"schema":"s","table":"t","op":"delete","key":["1"]}`, want: "1 key value(s) for 0 key column(s)"},
		"short old key":         {json: `{"v":1,"schema":"s","table":"t","op":"update","key_columns":["a","b"],"key":["1","2"],"old_key":["1"]}`, want: "old key"},
		"not JSON":              {json: `{"v":1,`, want: "change message"},
		"bad LSN":               {json: `{"v":1,"lsn":"nope","schema":"s","table":"t","op":"insert","key_columns":["id"],"key":["1"]}`, want: "LSN"},
		"task of another range": {json: `{"v":1,"index":"i","hash":"h","seq":1,"tasks":1,"key_columns":["id"],"from":["1"],"to":[]}`, want: "range", task: true},
		"task beyond the total": {json: `{"v":1,"index":"i","hash":"h","seq":3,"tasks":2,"key_columns":["id"],"from":["1"],"to":["2"]}`, want: "task 3 of 2", task: true},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if tc.task {
				_, err = DecodeTask([]byte(tc.json))
			} else {
				_, err = DecodeChange([]byte(tc.json))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	_, err := DecodeChange([]byte(`{"v":9,"schema":"s","table":"t","op":"insert"}`))
	if !errors.Is(err, ErrVersion) {
		t.Errorf("a future version is not ErrVersion: %v", err)
	}
}

func TestNames(t *testing.T) {
	n := NamesFor("stays")
	for got, want := range map[string]string{
		n.ChangeSubject("public", "users"):    "flusso.stays.changes.public.users",
		n.TaskSubject("listings"):             "flusso.stays.backfill.listings",
		n.EventSubject("capture", "slot.lag"): "flusso.stays.events.capture.slot.lag",
		n.ChangesStream():                     "FLUSSO_STAYS_CHANGES",
		n.EventsStream():                      "FLUSSO_STAYS_EVENTS",
		n.DLQStream():                         "FLUSSO_STAYS_DLQ",
		n.StateBucket():                       "FLUSSO_STAYS_STATE",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	if k, ok := n.KindOf("flusso.stays.backfill.listings"); !ok || k != KindTask {
		t.Error("a task subject is not a task")
	}
	if _, ok := n.KindOf("flusso.other.changes.a.b"); ok {
		t.Error("another pipeline's subject is recognised")
	}
}

// FuzzDecode: the decoders never panic, and what they accept encodes again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"lsn":"1/2000","seq":3,"schema":"s","table":"t","op":"update","key_columns":["id"],"key":["42"],"old":{"a":null}}`))
	f.Add([]byte(`{"v":1,"index":"i","hash":"h","snapshot_lsn":"0/1","seq":1,"tasks":1,"key_columns":["id"],"from":["1"],"to":["9"]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := DecodeChange(data); err == nil {
			if _, err := json.Marshal(c); err != nil {
				t.Fatal(err)
			}
			_ = c.MsgID()
		}
		if task, err := DecodeTask(data); err == nil {
			_ = task.MsgID()
		}
	})
}
