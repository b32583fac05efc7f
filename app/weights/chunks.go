package weights

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// DefaultChunkSize is the size of one Range request of a large file.
const DefaultChunkSize = 8 << 20

// chunkedMinChunks: a file with at least this many chunks left downloads in
// parallel chunks; smaller ones come as one stream.
const chunkedMinChunks = 4

// chunkPool recycles chunk buffers of the default size.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, DefaultChunkSize); return &b }}

// chunkedBody reads bytes [start, end) of a file as consecutive Range
// requests that run in parallel and are delivered in order, so that the
// incomplete file stays a contiguous prefix (resumable by size, as
// huggingface_hub resumes it) while a single large file — a Mistral
// repository's consolidated.safetensors — downloads over several connections.
// Chunks are dispatched in order and each holds one of the puller's buffer
// tokens until it has been read, which bounds the memory of all files
// together and cannot deadlock: every file's next chunk is always dispatched.
type chunkedBody struct {
	p      *puller
	ctx    context.Context
	cancel context.CancelFunc
	chunks chan chan chunkResult // in file order
	cur    *chunkResult          // the chunk being read
	off    int
}

type chunkResult struct {
	buf  *[]byte
	data []byte
	err  error
}

// openChunked starts fetching [start, end) of target in chunks of size.
func (p *puller) openChunked(ctx context.Context, target *url.URL, start, end, size int64) *chunkedBody {
	ctx, cancel := context.WithCancel(ctx)
	b := &chunkedBody{p: p, ctx: ctx, cancel: cancel, chunks: make(chan chan chunkResult, cap(p.tokens))}
	go func() {
		defer close(b.chunks)
		for from := start; from < end; from += size {
			to := min(from+size, end)
			select {
			case p.tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			res := make(chan chunkResult, 1)
			select {
			case b.chunks <- res:
			case <-ctx.Done():
				<-p.tokens
				return
			}
			go func() { res <- p.fetchChunk(ctx, target, from, to) }()
		}
	}()
	return b
}

func (b *chunkedBody) Read(out []byte) (int, error) {
	for b.cur == nil || b.off == len(b.cur.data) {
		b.release()
		next, ok := <-b.chunks
		if !ok {
			if err := b.ctx.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		r := <-next
		b.cur, b.off = &r, 0
		if r.err != nil {
			return 0, r.err
		}
	}
	n := copy(out, b.cur.data[b.off:])
	b.off += n
	return n, nil
}

// release gives back the current chunk's buffer and token.
func (b *chunkedBody) release() {
	if b.cur == nil {
		return
	}
	if b.cur.buf != nil {
		chunkPool.Put(b.cur.buf)
	}
	b.cur = nil
	<-b.p.tokens
}

// Close stops the fetches and gives back every token and buffer.
func (b *chunkedBody) Close() error {
	b.cancel()
	b.release()
	for next := range b.chunks {
		r := <-next
		b.cur = &r
		b.release()
	}
	return nil
}

// fetchChunk reads bytes [from, to) of target with one Range request. The
// token goes only to the hub's own host, never to the CDN it redirects to.
func (p *puller) fetchChunk(ctx context.Context, target *url.URL, from, to int64) chunkResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return chunkResult{err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to-1))
	if endpoint, err := url.Parse(p.hub.env.Endpoint); err == nil && endpoint.Host == target.Host && p.hub.env.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.hub.env.Token)
	}
	resp, err := p.hub.client.Do(req)
	if err != nil {
		return chunkResult{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		if resp.StatusCode < 300 {
			return chunkResult{err: fmt.Errorf("the server answered %s to a range request it had accepted before", resp.Status)}
		}
		return chunkResult{err: errHTTPStatus{resp.StatusCode}}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(from, 10)+"-") {
		return chunkResult{err: fmt.Errorf("the server sent range %q, asked for bytes=%d-%d", resp.Header.Get("Content-Range"), from, to-1)}
	}
	r := chunkResult{}
	if to-from == DefaultChunkSize {
		r.buf = chunkPool.Get().(*[]byte)
		r.data = (*r.buf)[:to-from]
	} else {
		r.data = make([]byte, to-from)
	}
	if _, err := io.ReadFull(resp.Body, r.data); err != nil {
		if r.buf != nil {
			chunkPool.Put(r.buf)
		}
		return chunkResult{err: err}
	}
	return r
}
