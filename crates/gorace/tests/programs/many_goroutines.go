// More goroutines alive at once than gorace has vector-clock slots (256), all gone
// before a plain race between main and one more goroutine. The report must still
// say which goroutine made each access.
package main

import (
	"fmt"
	"sync"
)

var x int

func main() {
	const n = 1000
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer finished.Done()
			started.Done()
			<-release
		}()
	}
	started.Wait() // all n goroutines are alive now
	close(release)
	finished.Wait()

	done := make(chan bool)
	go func() { // LINE:spawn
		x = 1 // LINE:write-goroutine
		done <- true
	}()
	x = 2 // LINE:write-main
	<-done
	fmt.Println(x > 0)
}
