package statusapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to the status service: the public surface at BaseURL
// (/status, /status/stream) and the private one at PrivateURL (/indexes,
// /reindex), with a bearer Token or HTTP Basic Username and Password. The
// credentials go to the private surface only; Token wins when both are set.
type Client struct {
	BaseURL    string // e.g. http://127.0.0.1:9464
	PrivateURL string // e.g. http://127.0.0.1:9465
	Token      string
	Username   string
	Password   string
	// HTTP is the client used; nil means http.DefaultClient. A Timeout on
	// it also ends Stream.
	HTTP *http.Client
}

// Error is an answer of the service other than the expected one.
type Error struct {
	Method     string
	URL        string
	StatusCode int
	// Message is the server's error message, or the start of the body when
	// it is not an ErrorResponse.
	Message string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// maxEvent bounds one message of the event stream (and any answer body).
const maxEvent = 64 << 20

// Status reads GET /status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, c.BaseURL, "/status", nil, false, http.StatusOK, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Indexes reads GET /indexes: the state of each index.
func (c *Client) Indexes(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	if err := c.do(ctx, http.MethodGet, c.PrivateURL, "/indexes", nil, true, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Reindex asks for a reindex of index: POST /reindex?index=<index>.
func (c *Client) Reindex(ctx context.Context, index string) (*ReindexResponse, error) {
	var out ReindexResponse
	q := url.Values{"index": {index}}
	if err := c.do(ctx, http.MethodPost, c.PrivateURL, "/reindex", q, true, http.StatusAccepted, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Stream reads GET /status/stream and calls fn with every status it sends
// (the current one first), until ctx ends (it returns ctx.Err()), fn
// returns an error (it returns that error) or the server ends the stream.
func (c *Client) Stream(ctx context.Context, fn func(Status) error) error {
	req, u, err := c.request(ctx, http.MethodGet, c.BaseURL, "/status/stream", nil, false)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.client().Do(req)
	if err != nil {
		return err // net/http's error names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return answerError(req.Method, u, resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEvent)
	var (
		event string
		data  bytes.Buffer
	)
	for sc.Scan() {
		line := sc.Text()
		if line == "" { // the end of a message
			if event == "status" && data.Len() > 0 {
				var st Status
				if err := json.Unmarshal(data.Bytes(), &st); err != nil {
					return fmt.Errorf("GET %s: a status message does not decode: %w", u, err)
				}
				if err := fn(st); err != nil {
					return err
				}
			}
			event = ""
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return fmt.Errorf("GET %s: the server ended the stream", u)
}

func (c *Client) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) request(ctx context.Context, method, base, path string, q url.Values, private bool) (*http.Request, string, error) {
	if base == "" {
		which := "BaseURL (the public surface)"
		if private {
			which = "PrivateURL (the private surface)"
		}
		return nil, "", fmt.Errorf("statusapi: no %s to %s %s", which, method, path)
	}
	u := strings.TrimRight(base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, u, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if private {
		switch {
		case c.Token != "":
			req.Header.Set("Authorization", "Bearer "+c.Token)
		case c.Username != "" || c.Password != "":
			req.SetBasicAuth(c.Username, c.Password)
		}
	}
	return req, u, nil
}

// do sends a request and decodes an answer of status want into out.
func (c *Client) do(ctx context.Context, method, base, path string, q url.Values, private bool, want int, out any) error {
	req, u, err := c.request(ctx, method, base, path, q, private)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client().Do(req)
	if err != nil {
		return err // net/http's error names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return answerError(method, u, resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxEvent)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: the answer does not decode: %w", method, u, err)
	}
	return nil
}

func answerError(method, u string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Method: method, URL: u, StatusCode: resp.StatusCode}
	var er ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Error != "" {
		e.Message = er.Error
	} else {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		e.Message = msg
	}
	return e
}
