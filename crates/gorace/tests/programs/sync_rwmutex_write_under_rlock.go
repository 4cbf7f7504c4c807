// sync.RWMutex misused: a write under the read lock. Read locks do not exclude each
// other, so the write races with another reader.
package main

import (
	"fmt"
	"sync"
)

var (
	mu   sync.RWMutex
	hits int
)

func main() {
	done := make(chan bool)
	go func() { // LINE:spawn
		for i := 0; i < 100; i++ {
			mu.RLock()
			hits = i // LINE:write
			mu.RUnlock()
		}
		done <- true
	}()
	seen := 0
	for i := 0; i < 100; i++ {
		mu.RLock()
		seen = max(seen, hits) // LINE:read
		mu.RUnlock()
	}
	<-done
	fmt.Println(seen < 100)
}
