// Primitive unprotected variable (race detector documentation, "Typical Data
// Races"): the Watchdog, checking three times instead of forever.
package main

import (
	"fmt"
	"os"
	"time"
)

type Watchdog struct{ last int64 }

func (w *Watchdog) KeepAlive() {
	w.last = time.Now().UnixNano() // LINE:keepalive First conflicting access.
}

func (w *Watchdog) Start(done chan<- bool) {
	go func() { // LINE:spawn
		for i := 0; i < 3; i++ {
			time.Sleep(time.Millisecond)
			// Second conflicting access.
			if w.last < time.Now().Add(-10*time.Second).UnixNano() { // LINE:check
				fmt.Println("No keepalives for 10 seconds. Dying.")
				os.Exit(1)
			}
		}
		done <- true
	}()
}

func main() {
	w := &Watchdog{}
	w.KeepAlive()
	done := make(chan bool)
	w.Start(done) // LINE:call-start
	for i := 0; i < 3; i++ {
		w.KeepAlive() // LINE:call-keepalive
	}
	<-done
	fmt.Println("alive")
}
