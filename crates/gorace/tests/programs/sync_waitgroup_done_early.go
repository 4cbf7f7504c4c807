// sync.WaitGroup misused: Done is called before the work it is meant to cover.
package main

import (
	"fmt"
	"sync"
)

var result int

func main() {
	var wg sync.WaitGroup
	finished := make(chan bool)
	wg.Add(1)
	go func() { // LINE:spawn
		wg.Done()
		result = 42 // LINE:write
		finished <- true
	}()
	wg.Wait()
	fmt.Println(result >= 0) // LINE:read
	<-finished
}
