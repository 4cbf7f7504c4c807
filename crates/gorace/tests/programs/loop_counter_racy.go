// Race on loop counter (race detector documentation, "Typical Data Races").
//
// Since Go 1.22 a `for i := ...` loop variable is per iteration, so the documented
// program no longer races; declaring the counter outside the loop keeps it shared.
package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	wg.Add(5)
	i := 0
	for ; i < 5; i++ { // LINE:increment
		go func() { // LINE:spawn
			fmt.Println(i) // LINE:read Not the 'i' you are looking for.
			wg.Done()
		}()
	}
	wg.Wait()
}
