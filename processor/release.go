package processor

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// releaseDelay is how long after a too-large value its memory is handed
// back: long enough for the Kafka client and goka to have dropped the
// message.
const releaseDelay = 2 * time.Second

// memRelease hands the memory a too-large value took back to the OS. The
// Kafka client decompresses a whole record batch before the callback sees
// a value, so a small compressed record can take hundreds of times its size;
// once it is refused the heap is mostly garbage, but the runtime would
// collect it only when the heap grows again and return it to the OS slowly.
type memRelease struct {
	mu      sync.Mutex
	pending bool
}

// memReleaser is process-wide: so is the memory.
var memReleaser memRelease

// schedule collects the garbage and returns the free memory to the OS after
// releaseDelay, at most once per delay however many values ask for it.
func (r *memRelease) schedule() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending {
		return
	}
	r.pending = true
	time.AfterFunc(releaseDelay, func() {
		// Two collections: the client keeps its decompression buffer in a
		// sync.Pool, which lets go of an unused one only at the second.
		runtime.GC()
		debug.FreeOSMemory()
		r.mu.Lock()
		r.pending = false
		r.mu.Unlock()
	})
}
