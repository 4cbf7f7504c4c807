// A contended mutex-protected map: 8 goroutines read and write one map.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

func main() {
	n := 200000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	var mu sync.Mutex
	m := make(map[int]int)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				k := (i*7 + g) % 4096
				mu.Lock()
				m[k] += g
				_ = m[(k+1)%4096]
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	fmt.Println(len(m))
}
