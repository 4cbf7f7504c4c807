// A storm of simultaneous races: P pairs of goroutines, released at once, each pair
// writing its own vars[n] (LINE:a against LINE:b) R times, with nothing else going on.
// With GORACE=halt_on_error=1 the first report must end the program; with every
// suppression off, reports are printed from many goroutines at the same moment.
// Prints the address of every vars[n] ("var N at 0x...") and "done" at the end.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

const (
	P = 64
	R = 30
)

var vars [P]struct {
	v int64
	_ [56]byte
}

func racer(n int, b bool, start <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	var own sync.Mutex
	<-start
	for i := int64(0); i < R; i++ {
		if b {
			vars[n].v = i // LINE:b
		} else {
			vars[n].v = -i // LINE:a
		}
		own.Lock() // a new epoch: the next write is checked again
		own.Unlock()
		runtime.Gosched()
	}
}

func main() {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for n := 0; n < P; n++ {
		wg.Add(2)
		go racer(n, false, start, &wg) // LINE:spawn-a
		go racer(n, true, start, &wg)  // LINE:spawn-b
	}
	close(start)
	wg.Wait()
	for n := range vars {
		fmt.Printf("var %d at %p\n", n, &vars[n].v)
	}
	fmt.Println("done")
}
