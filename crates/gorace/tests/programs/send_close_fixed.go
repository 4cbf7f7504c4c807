// The documented fix: receive, so that the send is done before the close.
package main

import "fmt"

func main() {
	c := make(chan struct{}) // or buffered channel
	go func() { c <- struct{}{} }()
	<-c
	close(c)
	_, ok := <-c
	fmt.Println("closed:", !ok)
}
