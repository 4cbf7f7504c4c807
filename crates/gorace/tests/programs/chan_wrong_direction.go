// A channel that synchronises the wrong way: a send on a buffered channel does not
// wait for the receiver, so nothing orders the worker's write before main's read.
package main

import "fmt"

var data int

func main() {
	start := make(chan bool, 1)
	done := make(chan bool)
	go func() { // LINE:spawn
		data = 42 // LINE:write
		<-start
		done <- true
	}()
	start <- true
	fmt.Println(data) // LINE:read
	<-done
}
