// A goroutine calls os.Exit while other goroutines are busy synchronising (and, in
// some modes, racing). The mode is the first argument:
//
//	clean          no race anywhere: exit status 0, nothing on stderr
//	race-then-exit one race (x) is reported first, then os.Exit(0): the race runtime's
//	               exit hook prints "Found 1 data race(s)" and turns status 0 into 66
//	racing-at-exit pairs of goroutines keep racing on fresh elements of arr (one new
//	               report after another) while os.Exit(0) runs
//	race-then-exit3 as race-then-exit, with os.Exit(3): the status stays 3
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var (
	x   int
	arr [1 << 14]int64
)

// busy starts goroutines that synchronise correctly, forever.
func busy() {
	var mu sync.Mutex
	var rw sync.RWMutex
	var atom atomic.Int64
	counter := 0
	shared := map[int]int{}
	for g := 0; g < 16; g++ {
		go func() {
			ping := make(chan int)
			go func() {
				for v := range ping {
					mu.Lock()
					counter += v
					mu.Unlock()
				}
			}()
			buf := make(chan []int, 4)
			for i := 0; ; i++ {
				switch i % 4 {
				case 0:
					ping <- i
				case 1:
					rw.Lock()
					shared[i%31] = i
					rw.Unlock()
				case 2:
					rw.RLock()
					_ = shared[i%31]
					rw.RUnlock()
					atom.Add(1)
				case 3:
					s := make([]int, 16)
					s[i%16] = i
					buf <- s
					s = <-buf
					s[0]++
				}
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
}

// racePair makes two goroutines race on arr[k], arr[k+1], ... until the exit.
func racePair(base int) {
	for side := 0; side < 2; side++ {
		go func() {
			var own sync.Mutex
			for k := base; ; k = base + (k-base+1)%1024 {
				if side == 0 {
					arr[k] = 1 // LINE:arr-a
				} else {
					arr[k] = 2 // LINE:arr-b
				}
				own.Lock()
				own.Unlock()
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
}

func main() {
	mode := os.Args[1]
	status := 0
	switch mode {
	case "clean":
	case "race-then-exit", "race-then-exit3":
		go func() { // LINE:spawn-x
			x = 1 // LINE:write-x
		}()
		time.Sleep(10 * time.Millisecond)
		x = 2 // LINE:main-x
		if mode == "race-then-exit3" {
			status = 3
		}
	case "racing-at-exit":
		for p := 0; p < 4; p++ {
			racePair(p * 1024)
		}
	default:
		panic("unknown mode " + mode)
	}
	busy()
	done := make(chan bool)
	go func() {
		time.Sleep(200 * time.Millisecond)
		fmt.Println("exiting", status)
		os.Exit(status)
	}()
	<-done // never: the goroutine above exits the process
}
