// A program with a data race: several goroutines increment a shared counter
// without synchronisation. Run it with:
//
//	gorace run examples/racy/main.go
//
// gorace prints a DATA RACE report naming both conflicting accesses (the write in
// worker and the earlier access by another goroutine) and exits with status 66.
package main

import (
	"fmt"
	"sync"
)

var hits int

func worker(wg *sync.WaitGroup) {
	defer wg.Done()
	hits++ // unsynchronised read-modify-write: the race
}

func main() {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go worker(&wg)
	}
	wg.Wait()
	fmt.Println("hits:", hits)
}
