// Long history: the writer goroutine writes x, then performs millions of other memory
// accesses and function calls before it exits; only then does main read x, with no
// synchronisation (it polls runtime.NumGoroutine, which orders nothing). The race must
// be reported with the full stack of the old write.
package main

import (
	"fmt"
	"runtime"
)

var (
	x    int
	big  = make([]int, 1<<16)
	sink int
)

//go:noinline
func setX() {
	x = 1 // LINE:write
}

//go:noinline
func publish() {
	setX() // LINE:call-setX
}

//go:noinline
func touch(i int) int {
	big[i&(len(big)-1)] += i
	return big[(i*7)&(len(big)-1)]
}

func churn() {
	for i := 0; i < 2_000_000; i++ {
		big[i&(len(big)-1)] = i
	}
	for i := 0; i < 200_000; i++ {
		sink += touch(i)
	}
}

func main() {
	before := runtime.NumGoroutine()
	go func() { // LINE:spawn
		publish() // LINE:call-publish
		churn()
	}()
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	fmt.Println(x) // LINE:read
}
