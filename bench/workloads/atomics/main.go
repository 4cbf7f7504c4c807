// Atomic counters: 8 goroutines hammer shared and private atomic counters.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	var shared atomic.Int64
	private := make([]atomic.Int64, 8*8)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				shared.Add(1)
				private[g*8].Add(int64(i))
				if private[g*8].Load() < 0 {
					panic("overflow")
				}
			}
		}(g)
	}
	wg.Wait()
	fmt.Println(shared.Load())
}
