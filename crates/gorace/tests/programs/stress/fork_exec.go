// Goroutines fork and exec children (os/exec) while other goroutines keep
// synchronising and racing. Children are `true`, and this program itself with the
// argument "child", which races once (LINE:child-a against LINE:child-b) and so exits
// with status 66 and one report of its own.
//
// In the parent, K pairs of goroutines race on raceVars[n] (LINE:an against LINE:bn)
// until every child has exited; nothing else races. The parent prints the address of
// every raceVars[n] ("race N at 0x...") and "children ok".
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const K = 8

var (
	raceVars [K]struct {
		v int64
		_ [56]byte
	}
	childVar int
)

func child() {
	// One P: the two writes cannot happen at the same instant, so the race is
	// reported every time (see gorace_run_racy in tests/common).
	runtime.GOMAXPROCS(1)
	done := make(chan bool)
	go func() {
		childVar = 1 // LINE:child-a
		done <- true
	}()
	childVar = 2 // LINE:child-b
	<-done
}

// seedA and seedB write raceVars[n] at a line of their own per n (so that each
// race has its own pair of stacks: the default GORACE reports it once).
//
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
		time.Sleep(100 * time.Microsecond)
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		child()
		return
	}
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
	total := 0
	for g := 0; g < 8; g++ {
		busy.Add(1)
		go func() {
			defer busy.Done()
			ch := make(chan int, 1)
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				case ch <- i:
				}
				v := <-ch
				mu.Lock()
				total += v % 2
				mu.Unlock()
			}
		}()
	}

	truePath, err := exec.LookPath("true")
	if err != nil {
		panic(err)
	}
	var forks sync.WaitGroup
	var failures atomic.Int32
	for f := 0; f < 4; f++ {
		forks.Add(1)
		go func() {
			defer forks.Done()
			for i := 0; i < 20; i++ {
				if err := exec.Command(truePath).Run(); err != nil {
					fmt.Println("true:", err)
					failures.Add(1)
				}
				if i%5 != 0 {
					continue
				}
				var out bytes.Buffer
				c := exec.Command(os.Args[0], "child")
				c.Stdout, c.Stderr = &out, &out
				err := c.Run()
				code := -1
				if e, ok := err.(*exec.ExitError); ok {
					code = e.ExitCode()
				}
				s := out.String()
				if code != 66 || strings.Count(s, "WARNING: DATA RACE") != 1 ||
					!strings.Contains(s, "Found 1 data race(s)") {
					fmt.Printf("child: exit %d (%v), output:\n%s\n", code, err, s)
					failures.Add(1)
				}
			}
		}()
	}
	forks.Wait()
	close(quit)
	busy.Wait()
	stop.Store(true)
	racers.Wait()
	for n := range raceVars {
		fmt.Printf("race %d at %p\n", n, &raceVars[n].v)
	}
	if failures.Load() == 0 {
		fmt.Println("children ok")
	}
}
