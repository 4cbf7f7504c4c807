// The hammer: with GOMAXPROCS=8 (set by the test), about 180,000 goroutines use every
// kind of synchronisation Go has (Mutex, RWMutex, unbuffered and buffered channels,
// WaitGroup, atomics, Once, Pool, select with timeouts, context cancellation), all of it
// correctly, while K pairs of goroutines race, each pair on its own global raceN
// (written by seedA at LINE:aN and by seedB at LINE:bN, never ordered).
//
// Only the seeded races may be reported, each exactly once: every pair has stacks of
// its own, and the default GORACE reports a pair of stacks once. The program checks
// its own results and prints "hammer ok" and the address of every raceN
// ("race N at 0x...").
//
// Live goroutines stay under the 256 vector-clock slots while the racers run (a
// semaphore bounds the workers): past that, both detectors may hide races. The crowd
// phase before them has 1000 goroutines alive at once, to make slots change hands.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const K = 24

var (
	race0  int64
	race1  int64
	race2  int64
	race3  int64
	race4  int64
	race5  int64
	race6  int64
	race7  int64
	race8  int64
	race9  int64
	race10 int64
	race11 int64
	race12 int64
	race13 int64
	race14 int64
	race15 int64
	race16 int64
	race17 int64
	race18 int64
	race19 int64
	race20 int64
	race21 int64
	race22 int64
	race23 int64
)

func addrs() []*int64 {
	return []*int64{&race0, &race1, &race2, &race3, &race4, &race5, &race6, &race7, &race8, &race9, &race10, &race11, &race12, &race13, &race14, &race15, &race16, &race17, &race18, &race19, &race20, &race21, &race22, &race23}
}

// seedA and seedB write raceN at a line of their own per N.
//
//go:noinline
func seedA(n int, v int64) {
	switch n {
	case 0:
		race0 = v // LINE:a0
	case 1:
		race1 = v // LINE:a1
	case 2:
		race2 = v // LINE:a2
	case 3:
		race3 = v // LINE:a3
	case 4:
		race4 = v // LINE:a4
	case 5:
		race5 = v // LINE:a5
	case 6:
		race6 = v // LINE:a6
	case 7:
		race7 = v // LINE:a7
	case 8:
		race8 = v // LINE:a8
	case 9:
		race9 = v // LINE:a9
	case 10:
		race10 = v // LINE:a10
	case 11:
		race11 = v // LINE:a11
	case 12:
		race12 = v // LINE:a12
	case 13:
		race13 = v // LINE:a13
	case 14:
		race14 = v // LINE:a14
	case 15:
		race15 = v // LINE:a15
	case 16:
		race16 = v // LINE:a16
	case 17:
		race17 = v // LINE:a17
	case 18:
		race18 = v // LINE:a18
	case 19:
		race19 = v // LINE:a19
	case 20:
		race20 = v // LINE:a20
	case 21:
		race21 = v // LINE:a21
	case 22:
		race22 = v // LINE:a22
	case 23:
		race23 = v // LINE:a23
	}
}

//go:noinline
func seedB(n int, v int64) {
	switch n {
	case 0:
		race0 = v // LINE:b0
	case 1:
		race1 = v // LINE:b1
	case 2:
		race2 = v // LINE:b2
	case 3:
		race3 = v // LINE:b3
	case 4:
		race4 = v // LINE:b4
	case 5:
		race5 = v // LINE:b5
	case 6:
		race6 = v // LINE:b6
	case 7:
		race7 = v // LINE:b7
	case 8:
		race8 = v // LINE:b8
	case 9:
		race9 = v // LINE:b9
	case 10:
		race10 = v // LINE:b10
	case 11:
		race11 = v // LINE:b11
	case 12:
		race12 = v // LINE:b12
	case 13:
		race13 = v // LINE:b13
	case 14:
		race14 = v // LINE:b14
	case 15:
		race15 = v // LINE:b15
	case 16:
		race16 = v // LINE:b16
	case 17:
		race17 = v // LINE:b17
	case 18:
		race18 = v // LINE:b18
	case 19:
		race19 = v // LINE:b19
	case 20:
		race20 = v // LINE:b20
	case 21:
		race21 = v // LINE:b21
	case 22:
		race22 = v // LINE:b22
	case 23:
		race23 = v // LINE:b23
	}
}

// racer writes raceN (side A or B) until the workers are done: each write is a new
// epoch (the goroutine's own mutex), so it is checked again. It synchronises with
// nothing the other racer of its pair touches.
func racer(n int, b bool, start <-chan struct{}, stop *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	<-start
	var own sync.Mutex
	for i := int64(0); i < 20 || !stop.Load(); i++ {
		if b {
			seedB(n, i) // LINE:call-b
		} else {
			seedA(n, i) // LINE:call-a
		}
		own.Lock()
		own.Unlock()
		time.Sleep(50 * time.Microsecond)
	}
}

// Shared state, all of it properly synchronised.
var (
	mu      sync.Mutex
	counter int64
	sum     int64

	rw    sync.RWMutex
	table = map[int]int{}

	atomicCount atomic.Int64
	timeouts    atomic.Int64

	cfgOnce sync.Once
	cfg     *config
	onces   [16]sync.Once
	perOnce [16]int

	pool = sync.Pool{New: func() any { return new(buffer) }}
)

type config struct {
	name  string
	limit int
}

type buffer struct {
	data [64]byte
	n    int
}

type box struct{ v, w int }

type job struct {
	in, out int
	done    chan struct{}
}

func add(v int64) {
	mu.Lock()
	counter++
	sum += v
	mu.Unlock()
}

func worker(i int, jobs chan<- *job, root context.Context) {
	switch i % 10 {
	case 0: // Mutex
		add(int64(i))
	case 1: // RWMutex: one writer in three
		if i%3 == 0 {
			rw.Lock()
			table[i%97] = i
			rw.Unlock()
			add(0)
		} else {
			rw.RLock()
			v := table[i%97]
			rw.RUnlock()
			add(int64(v % 2))
		}
	case 2: // unbuffered channel: ownership of a box goes back and forth
		ch := make(chan *box)
		go func() {
			b := <-ch
			b.w = b.v * 2
			ch <- b
		}()
		b := &box{v: i}
		ch <- b
		b = <-ch
		if b.w != 2*i {
			panic("unbuffered handoff lost a write")
		}
		add(1)
	case 3: // buffered channel work queue, served by a pool of consumers
		j := &job{in: i, done: make(chan struct{}, 1)}
		jobs <- j
		<-j.done
		if j.out != i+1 {
			panic("job result lost")
		}
		add(1)
	case 4: // WaitGroup fan-out into distinct slice elements
		parts := make([]int, 4)
		var wg sync.WaitGroup
		for k := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				parts[k] = i + k
			}()
		}
		wg.Wait()
		if parts[3] != i+3 {
			panic("fan-out lost a write")
		}
		add(1)
	case 5: // atomics: a counter, and a flag publishing plain data
		atomicCount.Add(1)
		var data box
		var ready atomic.Int32
		// The flag is stored once before the goroutine starts. (A first store racing
		// with loads is atomic_publish.go, where gorace has a bug of its own.)
		ready.Store(0)
		go func() {
			data.v = i
			ready.Store(1)
		}()
		for ready.Load() == 0 {
			runtime.Gosched()
		}
		if data.v != i {
			panic("atomic publication lost a write")
		}
	case 6: // sync.Once, global and one of several
		cfgOnce.Do(func() { cfg = &config{name: "hammer", limit: 7} })
		k := i % len(onces)
		onces[k].Do(func() { perOnce[k] = k + 1 })
		if cfg.limit != 7 || perOnce[k] != k+1 {
			panic("once")
		}
		add(1)
	case 7: // sync.Pool: a buffer written by whoever got it last
		b := pool.Get().(*buffer)
		b.data[i%64] = byte(i)
		b.n++
		pool.Put(b)
		add(1)
	case 8: // select with a timeout; the late sender never blocks
		ch := make(chan int, 1)
		go func() {
			if i%20 == 8 {
				time.Sleep(2 * time.Millisecond)
			}
			ch <- i
		}()
		select {
		case v := <-ch:
			add(int64(v % 2))
		case <-time.After(time.Millisecond):
			timeouts.Add(1)
			add(0)
		}
	case 9: // context cancellation publishes the parent's writes
		ctx, cancel := context.WithCancel(root)
		shared := &box{}
		res := make(chan int)
		go func() {
			for {
				select {
				case <-ctx.Done():
					res <- shared.v
					return
				default:
					runtime.Gosched()
				}
			}
		}()
		shared.v = i
		cancel()
		if <-res != i {
			panic("context cancellation lost a write")
		}
		add(1)
	}
}

// crowd: 1000 goroutines alive at once, waiting for a context, then working.
func crowd() {
	const n = 1000
	ctx, cancel := context.WithCancel(context.Background())
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	slots := make([]int, n)
	for i := 0; i < n; i++ {
		go func() {
			defer finished.Done()
			started.Done()
			<-ctx.Done()
			slots[i] = i
			if i%4 == 0 {
				add(1)
			} else {
				atomicCount.Add(1)
			}
		}()
	}
	started.Wait()
	cancel()
	finished.Wait()
	for i, v := range slots {
		if v != i {
			panic("crowd lost a write")
		}
	}
}

func main() {
	crowd()

	// Racers first, so that nothing main does later orders the two of a pair.
	start := make(chan struct{})
	var stop atomic.Bool
	var racers sync.WaitGroup
	for n := 0; n < K; n++ {
		racers.Add(2)
		go racer(n, false, start, &stop, &racers) // LINE:spawn-a
		go racer(n, true, start, &stop, &racers)  // LINE:spawn-b
	}
	close(start)

	root, cancelRoot := context.WithCancel(context.Background())
	defer cancelRoot()
	jobs := make(chan *job, 64)
	var consumers sync.WaitGroup
	for c := 0; c < 8; c++ {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for j := range jobs {
				j.out = j.in + 1
				j.done <- struct{}{}
			}
		}()
	}

	const workers = 100000
	sem := make(chan struct{}, 24)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			worker(i, jobs, root)
		}()
	}
	wg.Wait()
	close(jobs)
	consumers.Wait()
	stop.Store(true)
	racers.Wait()

	mu.Lock()
	c := counter
	mu.Unlock()
	// Every worker but the atomic kind (5) adds once, the crowd once in four.
	want := int64(workers/10*9 + 1000/4)
	if c != want {
		fmt.Println("counter", c, "want", want)
		os.Exit(1)
	}
	if a := atomicCount.Load(); a != workers/10+750 {
		fmt.Println("atomicCount", a)
		os.Exit(1)
	}
	for n, p := range addrs() {
		fmt.Printf("race %d at %p\n", n, p)
	}
	fmt.Println("hammer ok, select timeouts:", timeouts.Load())
}
