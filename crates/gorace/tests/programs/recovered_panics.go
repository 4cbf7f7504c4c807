// Goroutines recover from panics raised deep in a call chain, then race. The report
// must show the stacks at the racy accesses, without the frames the recovered panics
// abandoned (the stock runtime keeps them and prints every abandoned main.deep).
package main

import "fmt"

var x int

func deep(n int) {
	if n == 0 {
		panic("boom")
	}
	deep(n - 1)
}

func survive() {
	defer func() { recover() }()
	deep(10)
}

func worker(done chan bool) {
	for i := 0; i < 3; i++ {
		survive()
	}
	x = 1 // LINE:write
	done <- true
}

func main() {
	done := make(chan bool)
	go worker(done) // LINE:spawn
	survive()
	fmt.Println(x >= 0) // LINE:read
	<-done
}
