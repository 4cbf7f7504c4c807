// Tickers firing every nanosecond while goroutines lock a mutex: the runtime runs the
// time package's (instrumented) channel-send function from timers on an M's g0, so
// race calls arrive from the system stack. Nothing may symbolise there (Go's callback
// thunk would leave the thread's g set wrong): gorace once crashed here.
package main

import (
	"fmt"
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ticker := time.NewTicker(1)
			defer ticker.Stop()
			for c := 0; c < 1000; c++ {
				<-ticker.C
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println("ticks", n)
}
