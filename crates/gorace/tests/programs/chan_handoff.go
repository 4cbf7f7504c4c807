// An unbuffered send/receive hands data over: the write before the send happens
// before the read after the receive.
package main

import "fmt"

type msg struct{ a, b int }

func main() {
	m := &msg{}
	c := make(chan bool)
	go func() {
		m.a, m.b = 1, 2
		c <- true
	}()
	<-c
	fmt.Println(m.a + m.b)
}
