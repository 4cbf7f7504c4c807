// Two independent races, for the GORACE option tests. "done" is printed only after
// both racing pairs have happened.
package main

import (
	"fmt"
	"os"
)

var x, y int

func main() {
	fmt.Println("start pid", os.Getpid())
	done := make(chan bool)
	go func() { // LINE:spawn
		x = 1 // LINE:write-x
		y = 1 // LINE:write-y
		done <- true
	}()
	a := x // LINE:read-x
	b := y // LINE:read-y
	<-done
	fmt.Println("done", a+b >= 0)
}
