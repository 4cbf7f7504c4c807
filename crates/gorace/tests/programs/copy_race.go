// copy reads a whole range of the source slice; an element write inside that range
// by another goroutine races with it.
package main

import "fmt"

func main() {
	src := make([]int, 1000)
	dst := make([]int, 1000)
	done := make(chan bool)
	go func() { // LINE:spawn
		copy(dst, src) // LINE:copy
		done <- true
	}()
	src[500] = 1 // LINE:element
	<-done
	fmt.Printf("element at %p\n", &src[500])
}
