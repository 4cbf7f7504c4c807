// A program without goroutines; the suite builds it first to warm the cache.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var mu sync.Mutex
	var n int64
	mu.Lock()
	atomic.AddInt64(&n, 1)
	mu.Unlock()
	_ = filepath.Join(os.TempDir(), "x")
	_ = time.Now()
	fmt.Println("hello from", runtime.Version(), n)
}
