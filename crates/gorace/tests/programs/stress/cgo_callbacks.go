// C calls exported Go functions, from threads C created (pthread_create) and from Go's
// own threads (Go calls C, C calls back into Go), concurrently. goCounted keeps a
// mutex-protected and an atomic tally: clean. One race is seeded: goRacy, called back
// from a C thread, writes cbRace while a goroutine that makes no cgo call writes it
// too (LINE:cb-write against LINE:go-write).
package main

/*
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

extern void goCounted(int);
extern void goRacy(int);

static void *counting_thread(void *arg) {
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < 200; i++) {
		goCounted(n);
	}
	return 0;
}

// Starts n C threads calling back into Go, and waits for them.
static void run_threads(int n) {
	pthread_t t[32];
	for (int i = 0; i < n; i++) {
		pthread_create(&t[i], 0, counting_thread, (void *)(intptr_t)i);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], 0);
	}
}

// Called from Go: calls back into Go on the same (Go) thread.
static void call_back(int n, int k) {
	for (int i = 0; i < k; i++) {
		goCounted(n);
	}
}

static void *racy_thread(void *arg) {
	for (int i = 0; i < 100; i++) {
		goRacy(i);
		usleep(200);
	}
	return 0;
}

static void run_racy_thread(void) {
	pthread_t t;
	pthread_create(&t, 0, racy_thread, 0);
	pthread_join(t, 0);
}
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

var (
	mu      sync.Mutex
	counts  = map[int]int{}
	atomics atomic.Int64
	cbRace  int
)

//export goCounted
func goCounted(n C.int) {
	mu.Lock()
	counts[int(n)]++
	mu.Unlock()
	atomics.Add(1)
}

//export goRacy
func goRacy(i C.int) {
	cbRace = int(i) // LINE:cb-write
}

func main() {
	// A goroutine that never calls C writes cbRace until the C thread is done.
	var stop atomic.Bool
	writerDone := make(chan bool)
	go func() { // LINE:spawn-writer
		var own sync.Mutex
		for i := 0; i < 20 || !stop.Load(); i++ {
			cbRace = -i // LINE:go-write
			own.Lock()
			own.Unlock()
			time.Sleep(100 * time.Microsecond)
		}
		writerDone <- true
	}()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		C.run_racy_thread()
	}()
	for g := 0; g < 8; g++ { // callbacks on Go threads
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 10; r++ {
				C.call_back(C.int(100+g), 20)
			}
		}()
	}
	for r := 0; r < 4; r++ { // callbacks on C threads
		wg.Add(1)
		go func() {
			defer wg.Done()
			C.run_threads(8)
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-writerDone

	mu.Lock()
	total := 0
	for _, c := range counts {
		total += c
	}
	mu.Unlock()
	fmt.Println("callbacks", total, atomics.Load())
}
