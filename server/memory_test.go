package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"jail/judge"
)

// TestKeptTaskMemory: a finished task is kept for --keep (10 minutes by
// default) for GET and late streams, and a service runs thousands of
// tasks in that time, so what it keeps of each must stay small. The
// result is a real raw step's (testdata), output included.
func TestKeptTaskMemory(t *testing.T) {
	b, err := os.ReadFile("testdata/raw-step-result.json")
	require.NoError(t, err)
	exec := func(ctx context.Context, task judge.Task) (*judge.Result, error) {
		var res judge.Result
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, err
		}
		task.Output("stdout", []byte("hello\n"))
		return &res, nil
	}
	ts := startServer(t, Config{Parallel: 2, Exec: exec})
	const n = 4000
	body := `{"steps":[{"argv":["/bin/echo","hello"]}]}`
	post := func() {
		resp, err := ts.client.Post("http://jail/v1/runs?wait=30s", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s", msg)
	}
	for range 50 {
		post()
	}
	heap := func() uint64 {
		// Twice: the second empties sync.Pools' victim caches, which the
		// first only moves there.
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range n {
		post()
	}
	// The last tasks are packed packDelay after their end.
	time.Sleep(2 * packDelay)
	per := (int64(heap()) - int64(before)) / n
	t.Logf("%d bytes of heap kept per finished task", per)
	// 10,000 tasks in --keep's 10 minutes within 10 MB (about 650
	// bytes each when this was written, 7 KB before jobs were packed).
	require.Less(t, per, int64(1000), "a kept task holds %d bytes", per)
	runtime.KeepAlive(ts)
}

// TestKeptJobsReadBack: each job of a batch reads back as it was, the
// first, one inside and the last; and a compatibility layer's job is left
// whole.
func TestKeptJobsReadBack(t *testing.T) {
	var jobs []*job
	for i := range maxBatch {
		id := fmt.Sprintf("job-%d", i)
		done, err := json.Marshal(View{ID: id, State: Done, Profile: "steps"})
		require.NoError(t, err)
		jobs = append(jobs, &job{id: id, events: []event{{"queued", map[string]any{"id": id}},
			{"output", map[string]any{"stream": "stdout", "text": strings.Repeat("x", i)}},
			{"done", json.RawMessage(done)}}})
	}
	jobs[5].compat = struct{}{}
	keepJobs(jobs)
	require.Nil(t, jobs[5].kept)
	require.Len(t, jobs[5].events, 3)
	for _, i := range []int{0, 1, 31, maxBatch - 1} {
		j := jobs[i]
		require.NotNil(t, j.kept, "job %d", i)
		require.Nil(t, j.events)
		evs := j.eventsLocked()
		require.Len(t, evs, 3)
		require.Equal(t, "output", evs[1].name)
		text, err := evs[1].json()
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"stream":"stdout","text":%q}`, strings.Repeat("x", i)), string(text))
		view, _, ok := j.final()
		require.True(t, ok)
		require.JSONEq(t, fmt.Sprintf(`{"id":%q,"state":"done","profile":"steps","queue_time":0,"time":0}`, j.id), string(view))
	}
}

// BenchmarkPackEvents is the CPU time keeping a finished raw step costs
// beyond its final view's JSON, which the response needs anyway: its
// events encoded and compressed in a full batch, per job. (What they pack
// to is TestKeptTaskMemory's.)
func BenchmarkPackEvents(b *testing.B) {
	raw, err := os.ReadFile("testdata/raw-step-result.json")
	require.NoError(b, err)
	var res judge.Result
	require.NoError(b, json.Unmarshal(raw, &res))
	const id = "2f2498c09a6a455ae65524436e8e67c2"
	// As finish leaves it: the done event's JSON made once.
	done, err := json.Marshal(View{ID: id, State: Done, Profile: "steps", Result: &res})
	require.NoError(b, err)
	for b.Loop() {
		jobs := make([]*job, maxBatch)
		for i := range jobs {
			jobs[i] = &job{id: id, events: []event{{"queued", map[string]any{"id": id}}, {"started", map[string]any{"id": id}},
				{"output", map[string]any{"stream": "stdout", "text": "hello\n"}}, {"done", json.RawMessage(done)}}}
		}
		keepJobs(jobs)
		if jobs[maxBatch-1].kept == nil {
			b.Fatal("not kept")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*maxBatch)/1000, "µs/job")
}
