// sync.Mutex used correctly: every access to the counter holds the lock.
package main

import (
	"fmt"
	"sync"
)

func main() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	mu.Lock()
	_ = counter
	mu.Unlock()
	wg.Wait()
	fmt.Println(counter)
}
