// A channel pipeline: generator -> 4 stages -> sink, unbuffered and buffered links.
package main

import (
	"fmt"
	"os"
	"strconv"
)

type msg struct {
	id   int
	data [4]int
}

func stage(in <-chan *msg, out chan<- *msg, k int) {
	for m := range in {
		m.data[k%4] += m.id * k
		out <- m
	}
	close(out)
}

func main() {
	n := 500000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	src := make(chan *msg)
	in := src
	for k := 0; k < 4; k++ {
		out := make(chan *msg, k*8)
		go stage(in, out, k+1)
		in = out
	}
	go func() {
		for i := 0; i < n; i++ {
			src <- &msg{id: i}
		}
		close(src)
	}()
	total := 0
	for m := range in {
		total += m.data[1]
	}
	fmt.Println(total)
}
