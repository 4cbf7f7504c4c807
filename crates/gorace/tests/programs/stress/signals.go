// The program sends itself SIGUSR1 in a loop (os/signal.Notify, syscall.Kill) while
// K pairs of goroutines race on raceVars[n] (LINE:an against LINE:bn) and others
// synchronise correctly. Signals land on any thread at any moment, inside the race
// runtime too. Prints the address of every raceVars[n] ("race N at 0x...") and how
// many signals arrived.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const K = 8

var raceVars [K]struct {
	v int64
	_ [56]byte
}

//go:noinline
func seedA(n int, v int64) {
	switch n {
	case 0:
		raceVars[0].v = v // LINE:a0
	case 1:
		raceVars[1].v = v // LINE:a1
	case 2:
		raceVars[2].v = v // LINE:a2
	case 3:
		raceVars[3].v = v // LINE:a3
	case 4:
		raceVars[4].v = v // LINE:a4
	case 5:
		raceVars[5].v = v // LINE:a5
	case 6:
		raceVars[6].v = v // LINE:a6
	case 7:
		raceVars[7].v = v // LINE:a7
	}
}

//go:noinline
func seedB(n int, v int64) {
	switch n {
	case 0:
		raceVars[0].v = v // LINE:b0
	case 1:
		raceVars[1].v = v // LINE:b1
	case 2:
		raceVars[2].v = v // LINE:b2
	case 3:
		raceVars[3].v = v // LINE:b3
	case 4:
		raceVars[4].v = v // LINE:b4
	case 5:
		raceVars[5].v = v // LINE:b5
	case 6:
		raceVars[6].v = v // LINE:b6
	case 7:
		raceVars[7].v = v // LINE:b7
	}
}

func racer(n int, b bool, stop *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	var own sync.Mutex
	for i := int64(0); i < 20 || !stop.Load(); i++ {
		if b {
			seedB(n, i)
		} else {
			seedA(n, i)
		}
		own.Lock()
		own.Unlock()
		time.Sleep(50 * time.Microsecond)
	}
}

func main() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGUSR1)
	received := make(chan int)
	go func() {
		n := 0
		for range sigs {
			n++
		}
		received <- n
	}()

	var stop atomic.Bool
	var racers sync.WaitGroup
	for n := 0; n < K; n++ {
		racers.Add(2)
		go racer(n, false, &stop, &racers) // LINE:spawn-a
		go racer(n, true, &stop, &racers)  // LINE:spawn-b
	}

	// Busy, correctly synchronised goroutines.
	quit := make(chan struct{})
	var busy sync.WaitGroup
	var mu sync.Mutex
	var cond = sync.NewCond(&mu)
	queue := []int{}
	for g := 0; g < 8; g++ {
		busy.Add(2)
		go func() { // producer
			defer busy.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				mu.Lock()
				queue = append(queue, i)
				cond.Signal()
				mu.Unlock()
				time.Sleep(20 * time.Microsecond)
			}
		}()
		go func() { // consumer
			defer busy.Done()
			for {
				mu.Lock()
				for len(queue) == 0 {
					select {
					case <-quit:
						mu.Unlock()
						return
					default:
					}
					cond.Wait()
				}
				queue = queue[1:]
				mu.Unlock()
			}
		}()
	}

	pid := os.Getpid()
	for i := 0; i < 1000; i++ {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			panic(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(10 * time.Millisecond)
	signal.Stop(sigs)
	close(sigs)
	n := <-received

	close(quit)
	for done := false; !done; { // wake consumers waiting on the condition
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
		ch := make(chan struct{})
		go func() { busy.Wait(); close(ch) }()
		select {
		case <-ch:
			done = true
		case <-time.After(time.Millisecond):
		}
	}
	stop.Store(true)
	racers.Wait()
	for k := range raceVars {
		fmt.Printf("race %d at %p\n", k, &raceVars[k].v)
	}
	fmt.Println("signals received:", n > 0)
}
