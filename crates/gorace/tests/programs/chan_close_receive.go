// close happens before a receive that returns because the channel is closed.
package main

import "fmt"

var result string

func main() {
	done := make(chan struct{})
	go func() {
		result = "computed"
		close(done)
	}()
	_, ok := <-done
	fmt.Println(result, ok)
}
