// Two goroutines writing the same byte field of a struct race; the neighbouring
// fields in the same 8-byte word, each written by one goroutine only, do not.
//
// The goroutines run one after the other (main waits for the first to exit by polling
// runtime.NumGoroutine, which orders nothing), so the test does not depend on how the
// detector handles truly simultaneous updates of one word. Because that polling orders
// nothing, main must not read s.a afterwards: that read would race with the first
// goroutine's write (the stock runtime misses it when a slot is reused; gorace does
// not), so main reads only s.c, which the second goroutine wrote before wg.Done.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

type Bytes struct{ a, b, c byte }

func main() {
	s := &Bytes{}
	before := runtime.NumGoroutine()
	go func() { // LINE:spawn1
		s.a = 1 // LINE:own-a
		s.b = 1 // LINE:first
	}()
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // LINE:spawn2
		defer wg.Done()
		s.c = 2 // LINE:own-c
		s.b = 2 // LINE:second
	}()
	wg.Wait()
	fmt.Println(s.c)
	fmt.Printf("b at %p\n", &s.b)
}
