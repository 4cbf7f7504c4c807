// A buffered channel of capacity 1 used as a semaphore gives mutual exclusion.
package main

import (
	"fmt"
	"sync"
)

func main() {
	sem := make(chan struct{}, 1)
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				sem <- struct{}{}
				counter++
				<-sem
			}
		}()
	}
	wg.Wait()
	fmt.Println(counter)
}
