// sync.Cond misused: the producer changes the state and broadcasts without holding
// the lock. Broadcast alone orders nothing, so the waiter's reads race with the
// producer's writes. (The producer repeats the broadcast until the waiter
// acknowledges, so a lost wakeup cannot hang the program.)
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

var (
	mu    sync.Mutex
	cond  = sync.NewCond(&mu)
	ready bool
	data  int
	ack   int32
)

func main() {
	// A Cond's first method call initialises its copy checker with a compare-and-swap;
	// a goroutine whose own check then fails that compare-and-swap synchronises with
	// the first caller. Make main the first caller, so only the misuse decides.
	cond.Broadcast()
	go func() { // LINE:spawn
		data = 42    // LINE:write-data
		ready = true // LINE:write-ready
		for atomic.LoadInt32(&ack) == 0 {
			cond.Broadcast()
			runtime.Gosched()
		}
	}()
	mu.Lock()
	for !ready { // LINE:read-ready
		cond.Wait()
	}
	v := data // LINE:read-data
	mu.Unlock()
	atomic.StoreInt32(&ack, 1)
	fmt.Println(v)
}
