// A 1 GiB live heap touched by several goroutines.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

type node struct {
	a, b int64
	next *node
	pad  [5]int64
}

func main() {
	mib := 1024
	if len(os.Args) > 1 {
		mib, _ = strconv.Atoi(os.Args[1])
	}
	n := mib << 20 / 64
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = &node{a: int64(i)}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				nodes[i].b = nodes[i].a + 1
				nodes[i].next = nodes[(i+1)%n]
			}
		}(g)
	}
	wg.Wait()
	var s int64
	for _, x := range nodes {
		s += x.b
	}
	fmt.Println(s)
}
