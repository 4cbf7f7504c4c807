// Goroutines allocate without pause, so that the garbage collector is marking most of
// the time, and are still running when main returns: the exit path must not need Go's
// symbolizer then (racefini has given up its P, and the symbolizer's write barrier
// needs one). With "leaks", some goroutines also block for ever.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

var sink [8][]byte

func main() {
	for i := 0; i < 8; i++ {
		go func() {
			for {
				sink[i] = make([]byte, 1<<16)
			}
		}()
	}
	go func() {
		for {
			runtime.GC()
		}
	}()
	if len(os.Args) > 1 && os.Args[1] == "leaks" {
		ch := make(chan int)
		for i := 0; i < 4; i++ {
			go func() { ch <- i }()
		}
	}
	time.Sleep(50 * time.Millisecond)
	fmt.Println("exiting")
}
