// A goroutine writes data, then publishes it with the first atomic store to a fresh
// flag, while other goroutines spin on atomic loads of that flag and read data once
// they see it set. Go's memory model orders the write before those reads (the load
// that observes a store synchronises with it): the program has no race, and the stock
// runtime reports none.
//
// sync.Once is the same pattern: Do's fast path is an atomic load of a flag whose first
// store ends the first call's function. The second phase has goroutines racing to call
// Do of fresh Onces and read what the function wrote.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

func main() {
	const rounds = 20000
	for round := 0; round < rounds; round++ {
		data := new(int)
		flag := new(atomic.Int32) // no atomic operation on it yet
		var wg sync.WaitGroup
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func() { // LINE:spawn-reader
				defer wg.Done()
				for i := 0; flag.Load() == 0; i++ {
					if i%64 == 63 {
						runtime.Gosched()
					}
				}
				if *data != round { // LINE:read
					panic("lost the published write")
				}
			}()
		}
		go func() { // LINE:spawn-writer
			*data = round // LINE:write
			flag.Store(1)
		}()
		wg.Wait()
	}
	fmt.Println("published", rounds)

	type config struct{ v int }
	for round := 0; round < rounds/2; round++ {
		var once sync.Once
		var c *config
		var wg sync.WaitGroup
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				once.Do(func() { c = &config{v: round} })
				if c.v != round {
					panic("lost the write of Once's function")
				}
			}()
		}
		wg.Wait()
	}
	fmt.Println("once", rounds/2)
}
