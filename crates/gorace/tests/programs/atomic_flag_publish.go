// Message passing through an atomic flag: the data written before the release store
// is visible, without a race, to the goroutine whose acquire load sees the flag.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

var (
	data []int
	flag int32
)

func main() {
	go func() {
		data = []int{1, 2, 3}
		data[1] = 42
		atomic.StoreInt32(&flag, 1)
	}()
	for atomic.LoadInt32(&flag) == 0 {
		runtime.Gosched()
	}
	fmt.Println(data[0], data[1], data[2])
}
