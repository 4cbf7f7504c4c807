// sync.RWMutex used correctly: readers share the read lock, the writer takes the
// write lock.
package main

import (
	"fmt"
	"sync"
)

var (
	mu    sync.RWMutex
	table = map[string]int{"a": 1}
)

func main() {
	var wg sync.WaitGroup
	sums := make([]int, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				mu.RLock()
				sums[r] += table["a"] + len(table)
				mu.RUnlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			mu.Lock()
			table["a"]++
			table[fmt.Sprint(i)] = i
			mu.Unlock()
		}
	}()
	wg.Wait()
	fmt.Println(len(table))
}
