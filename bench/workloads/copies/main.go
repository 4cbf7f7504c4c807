// Large slice copies (range accesses): 4 goroutines copy 8 MiB slices back and forth.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

func main() {
	rounds := 40
	if len(os.Args) > 1 {
		rounds, _ = strconv.Atoi(os.Args[1])
	}
	var wg sync.WaitGroup
	sums := make([]int, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			a := make([]byte, 8<<20)
			b := make([]byte, 8<<20)
			for i := range a {
				a[i] = byte(i + g)
			}
			for r := 0; r < rounds; r++ {
				copy(b, a)
				copy(a[1:], b)
			}
			sums[g] = int(a[12345]) + int(b[777])
		}(g)
	}
	wg.Wait()
	fmt.Println(sums)
}
