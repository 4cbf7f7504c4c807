// Lock-order patterns, chosen by the first argument. None of them deadlocks in the run
// (goroutines take their locks one after another), except "double", whose goroutine
// blocks forever on its second Lock while main exits. Lines the tests check are marked
// with LINE: comments.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type account struct {
	mu      sync.Mutex
	balance int
}

// transfer locks from, then to: two transfers in opposite directions can deadlock.
func transfer(from, to *account, n int) {
	from.mu.Lock() // LINE:transfer-first
	defer from.mu.Unlock()
	to.mu.Lock() // LINE:transfer-second
	defer to.mu.Unlock()
	from.balance -= n
	to.balance += n
}

// inversion: a→b in one goroutine, later b→a in another.
func inversion() {
	a, b := &account{balance: 10}, &account{balance: 10}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		transfer(a, b, 1) // LINE:inversion-ab
	}()
	wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		transfer(b, a, 2) // LINE:inversion-ba
	}()
	wg.Wait()
	fmt.Println(a.balance, b.balance)
}

// cycle3: a→b, b→c, c→a in three goroutines, one after another.
func cycle3() {
	a, b, c := &account{}, &account{}, &account{}
	for _, pair := range [][2]*account{{a, b}, {b, c}, {c, a}} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			transfer(pair[0], pair[1], 1) // LINE:cycle3
		}()
		<-done
	}
	fmt.Println(a.balance + b.balance + c.balance)
}

// consistent: always a then b, from many goroutines at once.
func consistent() {
	a, b := &account{balance: 100}, &account{balance: 100}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			transfer(a, b, 1)
		}()
	}
	wg.Wait()
	fmt.Println(a.balance, b.balance)
}

type cache struct {
	mu sync.RWMutex
	m  map[string]int
}

func (c *cache) get(k string) int {
	c.mu.RLock() // LINE:get-rlock
	defer c.mu.RUnlock()
	return c.m[k]
}

// sum read-locks, then calls get, which read-locks again: fine until a writer queues
// between the two.
func (c *cache) sum(keys ...string) int {
	c.mu.RLock() // LINE:sum-rlock
	defer c.mu.RUnlock()
	s := 0
	for _, k := range keys {
		s += c.get(k) // LINE:sum-get
	}
	return s
}

func (c *cache) set(k string, v int) {
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
}

// readers: RLock from several goroutines at once, and writers: no report.
func readers() {
	c := &cache{m: map[string]int{"a": 1}}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); _ = c.get("a") }()
		go func() { defer wg.Done(); c.set("b", i) }()
	}
	wg.Wait()
	fmt.Println(len(c.m))
}

// double: a goroutine locks a mutex it holds; it blocks forever.
func double() {
	var mu sync.Mutex
	reached := make(chan struct{})
	go func() {
		mu.Lock() // LINE:double-first
		close(reached)
		mu.Lock() // LINE:double-second
	}()
	<-reached
	time.Sleep(100 * time.Millisecond) // main exits; the goroutine stays blocked
}

// handoff: a lock taken in one goroutine and released by another is no longer held by
// the first (Go mutexes are not owned), so its later locks order nothing after it.
func handoff() {
	var mu, mu2 sync.Mutex
	locked, released := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		mu.Lock()
		close(locked)
		<-released
		mu2.Lock()
		mu2.Unlock()
	}()
	go func() {
		<-locked
		mu.Unlock() // another goroutine's lock
		close(released)
	}()
	<-done
	mu2.Lock()
	mu.Lock()
	mu.Unlock()
	mu2.Unlock()
	fmt.Println("handed over")
}

// trylock: a TryLock that succeeds orders later locks after it, like Lock.
func trylock() {
	a, b := &account{}, &account{}
	if !a.mu.TryLock() { // LINE:trylock
		panic("a is free")
	}
	b.mu.Lock()
	b.mu.Unlock()
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		transfer(b, a, 1)
	}()
	<-done
}

// hang: two goroutines really deadlock (a→b against b→a, forced), main waits for them.
func hang() {
	a, b := &account{}, &account{}
	aLocked, bLocked := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.mu.Lock() // LINE:hang-a
		close(aLocked)
		<-bLocked
		b.mu.Lock() // LINE:hang-ab
	}()
	go func() {
		defer wg.Done()
		b.mu.Lock() // LINE:hang-b
		close(bLocked)
		<-aLocked
		a.mu.Lock() // LINE:hang-ba
	}()
	wg.Wait() // LINE:hang-wait
}

// idle: nothing moves for 1.5 s, but nobody waits for a lock (a server waiting for
// requests): not a hang.
func idle() {
	never := make(chan int)
	go func() { <-never }()
	var mu sync.Mutex
	mu.Lock()
	time.Sleep(1500 * time.Millisecond)
	mu.Unlock()
	fmt.Println("idled")
}

// chanhang: a pipeline whose producer forgot to send: the worker waits for a job, the
// collector in a select for a result or a stop, main for the collector. No lock.
func chanhang() {
	jobs, results, stop, done := make(chan int), make(chan int), make(chan bool), make(chan bool)
	go func() { // LINE:chanhang-worker
		for j := range jobs {
			results <- j * 2
		}
	}()
	go func() { // LINE:chanhang-collector
		for {
			select {
			case r := <-results:
				fmt.Println(r)
			case <-stop:
				done <- true
				return
			}
		}
	}()
	<-done // LINE:chanhang-main
}

// signalwait: main waits for a signal another process sends it 1.5 s later; the only
// other goroutine waits on a channel. Idle, not hung: os/signal's goroutine sits in a
// system call and can wake it.
func signalwait() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() { <-make(chan int) }()
	kill := exec.Command("sh", "-c", fmt.Sprintf("sleep 1.5; kill -USR1 %d", os.Getpid()))
	if err := kill.Start(); err != nil {
		panic(err)
	}
	<-sig
	fmt.Println("signalled")
}

func main() {
	modes := map[string]func(){
		"hang": hang, "idle": idle, "chanhang": chanhang, "signalwait": signalwait,
		"inversion": inversion, "cycle3": cycle3, "consistent": consistent,
		"readers": readers, "double": double, "handoff": handoff, "trylock": trylock,
		"recursive": func() {
			c := &cache{m: map[string]int{"a": 1, "b": 2}}
			fmt.Println(c.sum("a", "b"))
		},
	}
	f, ok := modes[os.Args[1]]
	if !ok {
		fmt.Println("unknown mode", os.Args[1])
		os.Exit(2)
	}
	f()
}
