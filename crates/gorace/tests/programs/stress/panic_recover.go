// Many goroutines panic and recover in loops (explicit panics from deep call chains,
// runtime errors, re-panics inside deferred calls), sharing a mutex-protected tally.
// One race is seeded: workers 0 and 1 write seeded from deferred recover functions, at
// two different lines, after their loops; nothing else races.
package main

import (
	"fmt"
	"sync"
	"time"
)

var (
	mu        sync.Mutex
	recovered int
	seeded    int
)

func deep(n int, how int) {
	if n == 0 {
		switch how {
		case 0:
			panic(fmt.Sprintf("boom %d", n))
		case 1:
			var m map[int]int
			m[n] = 1 // assignment to a nil map
		case 2:
			s := []int{}
			_ = s[n+5] // index out of range
		}
	}
	deep(n-1, how)
}

// survive recovers one panic; half of the time the deferred call panics again and an
// outer deferred call recovers that one.
func survive(i int) {
	defer func() {
		if recover() != nil {
			mu.Lock()
			recovered++
			mu.Unlock()
		}
	}()
	defer func() {
		if r := recover(); r != nil && i%2 == 0 {
			panic(r)
		}
	}()
	deep(i%16, i%3)
}

func worker(id int, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; i < 2000; i++ {
		survive(id + i)
	}
	// The seeded race: workers 0 and 1 write seeded 20 times each, from deferred calls
	// run by panics. Each write is in a new epoch (own), so both detectors check it:
	// the race does not depend on two single writes not happening at the same instant.
	var own sync.Mutex
	for k := 0; k < 20 && id < 2; k++ {
		switch id {
		case 0:
			func() {
				defer func() {
					recover()
					seeded = 1 // LINE:seed-a
				}()
				deep(5, 0)
			}()
		case 1:
			func() {
				defer func() {
					recover()
					seeded = 2 // LINE:seed-b
				}()
				deep(7, 0)
			}()
		}
		own.Lock()
		own.Unlock()
		time.Sleep(100 * time.Microsecond)
	}
}

func main() {
	const n = 64
	var wg sync.WaitGroup
	for id := 0; id < n; id++ {
		wg.Add(1)
		go worker(id, &wg) // LINE:spawn
	}
	wg.Wait()
	fmt.Println("recovered", recovered)
}
