// copy reads a whole range of the source slice; a write to one element inside that
// range by another goroutine, with nothing ordering the two, races with it. (main
// writes after the copying goroutine has exited, which it learns from
// runtime.NumGoroutine, not a synchronisation.)
package main

import (
	"fmt"
	"runtime"
)

func main() {
	src := make([]int, 1000)
	dst := make([]int, 1000)
	before := runtime.NumGoroutine()
	go func() { // LINE:spawn
		copy(dst, src) // LINE:copy
	}()
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	src[500] = 1 // LINE:element
	fmt.Printf("element at %p\n", &src[500])
}
