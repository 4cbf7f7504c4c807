// An atomic store racing with a plain read: atomicity on one side is not enough.
package main

import (
	"fmt"
	"sync/atomic"
)

var x int64

func main() {
	done := make(chan bool)
	go func() { // LINE:spawn
		atomic.StoreInt64(&x, 1) // LINE:store
		done <- true
	}()
	v := x // LINE:read
	<-done
	fmt.Println(v >= 0)
}
