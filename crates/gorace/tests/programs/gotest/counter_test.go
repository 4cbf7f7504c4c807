package gotest

import (
	"sync"
	"testing"
)

// TestRacy increments a shared counter from two goroutines without synchronisation.
func TestRacy(t *testing.T) {
	counter := 0
	var wg sync.WaitGroup
	wg.Add(2)
	for i := 0; i < 2; i++ {
		go func() { // LINE:spawn
			defer wg.Done()
			counter++ // LINE:increment
		}()
	}
	wg.Wait()
	t.Log("counter:", counter)
}

// TestClean does the same under a mutex.
func TestClean(t *testing.T) {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	wg.Add(2)
	for i := 0; i < 2; i++ {
		go func() {
			defer wg.Done()
			mu.Lock()
			counter++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counter != 2 {
		t.Fatalf("counter = %d, want 2", counter)
	}
}
