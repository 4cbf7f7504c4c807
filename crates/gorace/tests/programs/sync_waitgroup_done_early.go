// sync.WaitGroup misused: Done is called before the work it is meant to cover, so
// Wait orders nothing after it. Even when main reads the result only after the worker
// has exited (which it learns from runtime.NumGoroutine, not a synchronisation), the
// read races with the worker's write.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

var result int

func main() {
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // LINE:spawn
		wg.Done()
		result = 42 // LINE:write
	}()
	wg.Wait()
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	fmt.Println(result) // LINE:read
}
