// The earlier access belongs to a goroutine that has already exited. main learns that
// the writer is gone from runtime.NumGoroutine, which the race detector does not
// see as synchronisation, so the read still races with the write, and the report
// describes the writer as finished.
package main

import (
	"fmt"
	"runtime"
)

var x int

func main() {
	before := runtime.NumGoroutine()
	go func() { // LINE:spawn
		x = 1 // LINE:write
	}()
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	fmt.Println(x) // LINE:read
}
