// Three different pairs of stacks race on one variable: the stock runtime reports
// each pair (it does not suppress by address), and so must gorace.
package main

var x int

//go:noinline
func w1() { x = 1 }

//go:noinline
func w2() { x = 2 }

//go:noinline
func r1() int { return x }

func main() {
	done := make(chan bool)
	go func() { w1(); done <- true }()
	w2()
	<-done
	go func() { _ = r1(); done <- true }()
	w2()
	<-done
	go func() { w1(); done <- true }()
	_ = r1()
	<-done
}
