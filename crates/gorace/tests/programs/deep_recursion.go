// Deep recursion: a goroutine writes x 3,000 calls deep, then exits; main reads x with
// no synchronisation (it polls runtime.NumGoroutine, which orders nothing). The race
// is reported; the old write's stack keeps its innermost frames and says that the
// outer ones, past gorace's 1,024 kept frames, were not kept.
package main

import (
	"fmt"
	"runtime"
)

var x int

//go:noinline
func down(n int) {
	if n == 0 {
		x = 1 // LINE:write
		return
	}
	down(n - 1) // LINE:recurse
}

func main() {
	before := runtime.NumGoroutine()
	go down(3000)
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	fmt.Println(x) // LINE:read
}
