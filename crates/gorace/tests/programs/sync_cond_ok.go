// sync.Cond used correctly: the condition is changed and checked under the lock.
package main

import (
	"fmt"
	"sync"
)

func main() {
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue []int
	go func() {
		for i := 1; i <= 3; i++ {
			mu.Lock()
			queue = append(queue, i)
			cond.Signal()
			mu.Unlock()
		}
	}()
	sum := 0
	for got := 0; got < 3; {
		mu.Lock()
		for len(queue) == 0 {
			cond.Wait()
		}
		sum += queue[0]
		queue = queue[1:]
		got++
		mu.Unlock()
	}
	fmt.Println(sum)
}
