// Pointer-heavy CPU work: 8 goroutines build and walk binary trees.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

type node struct {
	l, r *node
	v    int
}

func build(d int) *node {
	if d == 0 {
		return &node{v: 1}
	}
	return &node{l: build(d - 1), r: build(d - 1), v: d}
}

func (n *node) sum() int {
	if n == nil {
		return 0
	}
	return n.v + n.l.sum() + n.r.sum()
}

func main() {
	rounds := 10
	if len(os.Args) > 1 {
		rounds, _ = strconv.Atoi(os.Args[1])
	}
	var wg sync.WaitGroup
	res := make([]int, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				res[g] += build(16).sum()
			}
		}(g)
	}
	wg.Wait()
	fmt.Println(res[0])
}
