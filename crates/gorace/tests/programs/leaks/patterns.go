// Goroutine leak patterns (seed documents 002-004) and their fixed versions, chosen by
// the first argument. Lines the tests check are marked with LINE: comments.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"
)

// earlyReturn: the result channel is unbuffered and the caller returns early on an
// error, so the worker blocks forever on its send.
func earlyReturn(fixed bool) error {
	ch := make(chan int)
	if fixed {
		ch = make(chan int, 1)
	}
	go func() { // LINE:early-spawn
		ch <- compute(1) // LINE:early-send
	}()
	if err := validate(-1); err != nil {
		return err // premature return: nobody receives
	}
	<-ch
	return nil
}

func compute(x int) int { return x * 2 }

func validate(x int) error {
	if x < 0 {
		return errors.New("negative")
	}
	return nil
}

// timeout: the caller gives up after a timeout; the late worker sends to nobody.
func timeout(fixed bool) {
	ch := make(chan string)
	if fixed {
		ch = make(chan string, 1)
	}
	go func() { // LINE:timeout-spawn
		time.Sleep(30 * time.Millisecond)
		ch <- "late" // LINE:timeout-send
	}()
	select {
	case v := <-ch:
		fmt.Println(v)
	case <-time.After(5 * time.Millisecond):
		fmt.Println("timed out")
	}
	time.Sleep(60 * time.Millisecond) // the worker is blocked by now
}

// nCast: n workers send their results, the caller reads only the first.
func nCast(fixed bool) {
	const n = 4
	ch := make(chan int)
	if fixed {
		ch = make(chan int, n)
	}
	for i := 0; i < n; i++ {
		go func(i int) { // LINE:ncast-spawn
			ch <- i // LINE:ncast-send
		}(i)
	}
	fmt.Println("first:", <-ch)
	time.Sleep(20 * time.Millisecond)
}

// rangeNoClose: the consumer ranges over a channel the producer never closes.
func rangeNoClose(fixed bool) {
	ch := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // LINE:range-spawn
		defer wg.Done()
		sum := 0
		for v := range ch { // LINE:range-recv
			sum += v
		}
		fmt.Println("sum", sum)
	}()
	for i := 0; i < 3; i++ {
		ch <- i
	}
	if fixed {
		close(ch)
		wg.Wait()
	}
	time.Sleep(10 * time.Millisecond)
}

// polling: a worker polls until its stop channel is closed, which never happens.
func polling(fixed bool) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var mu sync.Mutex
	ticks := 0
	go func() { // LINE:poll-spawn
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			ticks++ // LINE:poll-tick
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if fixed {
		close(stop)
		<-done
	}
}

// finishInGrace: goroutines that end shortly after main returns are not leaks.
func finishInGrace() {
	for i := 0; i < 3; i++ {
		go func() {
			time.Sleep(100 * time.Millisecond)
		}()
	}
}

// system: os/signal's goroutine is the system's, not a leak.
func system() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
}

func main() {
	mode := os.Args[1]
	fixed := len(os.Args) > 2 && os.Args[2] == "fixed"
	switch mode {
	case "early":
		fmt.Println(earlyReturn(fixed))
	case "timeout":
		timeout(fixed)
	case "ncast":
		nCast(fixed)
	case "range":
		rangeNoClose(fixed)
	case "polling":
		polling(fixed)
	case "grace":
		finishInGrace()
	case "system":
		system()
	default:
		n, _ := strconv.Atoi(mode)
		fmt.Println("unknown mode", n)
		os.Exit(2)
	}
	// Leaks are seen as of main's return: give the leaked goroutines a moment to get
	// where they block, as a program that leaks them earlier on would.
	time.Sleep(20 * time.Millisecond)
}
