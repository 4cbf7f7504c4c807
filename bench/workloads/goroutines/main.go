// Short goroutines: N goroutines in all, at most 10,000 alive at once.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	sem := make(chan struct{}, 10000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			x := make([]int, 4)
			x[i%4] = i
			mu.Lock()
			total += x[i%4] & 1
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	fmt.Println(total)
}
