// sync.Mutex misused: the writer holds the lock, the reader does not.
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
		increment() // LINE:call
		done <- true
	}()
	v := counter // LINE:read
	<-done
	fmt.Println(v >= 0)
}
