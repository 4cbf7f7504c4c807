// The documented fix for the Watchdog: sync/atomic.
package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

type Watchdog struct{ last int64 }

func (w *Watchdog) KeepAlive() {
	atomic.StoreInt64(&w.last, time.Now().UnixNano())
}

func (w *Watchdog) Start(done chan<- bool) {
	go func() {
		for i := 0; i < 3; i++ {
			time.Sleep(time.Millisecond)
			if atomic.LoadInt64(&w.last) < time.Now().Add(-10*time.Second).UnixNano() {
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
	w.Start(done)
	for i := 0; i < 3; i++ {
		w.KeepAlive()
	}
	<-done
	fmt.Println("alive")
}
