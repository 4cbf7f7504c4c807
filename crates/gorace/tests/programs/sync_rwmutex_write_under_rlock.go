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
		mu.RLock()
		hits = 1 // LINE:write
		mu.RUnlock()
		done <- true
	}()
	mu.RLock()
	v := hits // LINE:read
	mu.RUnlock()
	<-done
	fmt.Println(v >= 0)
}
