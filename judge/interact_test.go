package judge

import (
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranscriptLines(t *testing.T) {
	rec := &transcript{keep: true}
	rec.add('>', []byte("? 5"))
	rec.add('>', []byte("0\n"))
	rec.add('<', []byte("<\n"))
	rec.add('>', []byte("? 25\n? 12"))
	rec.add('<', []byte(">\n"))
	assert.Equal(t, "> ? 50\n< <\n> ? 25\n> ? 12\n< >\n", rec.text.String(),
		"a line split across writes keeps one prefix; a turn mid-line starts a new line")
	assert.Equal(t, "? 50\n? 25\n? 12", rec.prog.excerpt().Text, "PROG's output is kept as it wrote it")
}

func TestTranscriptCapped(t *testing.T) {
	rec := &transcript{keep: true}
	line := []byte(strings.Repeat("x", 1000) + "\n")
	for range 100 {
		rec.add('>', line)
	}
	assert.Equal(t, TranscriptMax, rec.text.Len())
	assert.Equal(t, int64(100*(len(line)+2)), rec.total)
	e := rec.prog.excerpt()
	assert.Equal(t, int64(100*len(line)), e.Bytes)
	assert.True(t, e.Truncated)
	assert.Len(t, e.Text, OutputExcerpt)

	off := &transcript{}
	off.add('>', line)
	assert.Zero(t, off.text.Len(), "no transcript unless asked for")
	assert.Equal(t, int64(len(line)), off.prog.total)
}

// A relay hands on the end of its input, so the reader sees it too.
func TestRelayPassesEOF(t *testing.T) {
	srcR, srcW, err := os.Pipe()
	require.NoError(t, err)
	dstR, dstW, err := os.Pipe()
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		relay(srcR, dstW, &transcript{}, '>', false)
		close(done)
	}()
	_, err = srcW.Write([]byte("hello\n"))
	require.NoError(t, err)
	srcW.Close()
	got, err := io.ReadAll(dstR)
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(got))
	<-done
}

// When the reader is gone, a draining relay keeps reading its input to the
// end, so the writer (an interactor) never dies of SIGPIPE; a plain relay
// closes its input so the writer (PROG) sees EPIPE, as with a direct pipe.
func TestRelayWhenTheReaderIsGone(t *testing.T) {
	// The test process must not die of the SIGPIPE the plain case causes.
	signal.Ignore(syscall.SIGPIPE)
	defer signal.Reset(syscall.SIGPIPE)
	for _, drain := range []bool{true, false} {
		srcR, srcW, err := os.Pipe()
		require.NoError(t, err)
		dstR, dstW, err := os.Pipe()
		require.NoError(t, err)
		dstR.Close()
		done := make(chan struct{})
		go func() {
			relay(srcR, dstW, &transcript{}, '<', drain)
			close(done)
		}()
		// 4 MiB is far more than a pipe holds: only a reader gets it through.
		wrote := make(chan error, 1)
		go func() {
			var werr error
			for i := 0; i < 64 && werr == nil; i++ {
				_, werr = srcW.Write([]byte(strings.Repeat("y", 1<<16)))
			}
			wrote <- werr
		}()
		select {
		case werr := <-wrote:
			if drain {
				assert.NoError(t, werr, "a draining relay keeps reading")
			} else {
				assert.ErrorIs(t, werr, syscall.EPIPE, "a plain relay closes its input")
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("drain=%v: the writer is stuck: the relay neither drains nor closes", drain)
		}
		srcW.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("drain=%v: the relay did not end at its input's end", drain)
		}
	}
}
