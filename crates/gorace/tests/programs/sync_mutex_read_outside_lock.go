// sync.Mutex misused: a worker increments a counter under the lock while main, which
// polls the counter for progress, reads it without the lock.
package main

import (
	"fmt"
	"sync"
)

var (
	mu      sync.Mutex
	counter int
)

func increment() {
	mu.Lock()
	counter++ // LINE:write
	mu.Unlock()
}

func main() {
	done := make(chan bool)
	go func() { // LINE:spawn
		for i := 0; i < 100; i++ {
			increment() // LINE:call
		}
		done <- true
	}()
	progress := 0
	for i := 0; i < 100; i++ {
		progress = max(progress, counter) // LINE:read
	}
	<-done
	fmt.Println(progress <= 100)
}
