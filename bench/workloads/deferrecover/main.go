// A long-lived goroutine doing N defer+recover rounds (the race detector
// documentation warns of memory kept per round).
package main

import (
	"fmt"
	"os"
	"strconv"
)

var sink int

//go:noinline
func fail(i int) {
	sink += i
	panic(i)
}

func round(i int) (r int) {
	defer func() {
		if v := recover(); v != nil {
			r = v.(int)
		}
	}()
	fail(i)
	return 0
}

func main() {
	n := 10000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	done := make(chan int)
	go func() {
		s := 0
		for i := 0; i < n; i++ {
			s += round(i) & 1
		}
		done <- s
	}()
	fmt.Println(<-done)
}
