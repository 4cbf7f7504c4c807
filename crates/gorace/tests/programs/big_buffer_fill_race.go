// A goroutine fills a fresh 8 MiB buffer byte by byte and copies it into another
// fresh one, whose shadow gorace makes writable ahead of the stores; main then writes
// one byte deep inside each buffer, ordered after neither (it learns that the
// goroutine exited from runtime.NumGoroutine, not a synchronisation): two races.
package main

import (
	"fmt"
	"runtime"
)

func fill(buf []byte) {
	for i := range buf {
		buf[i] = byte(i) // LINE:fill
	}
}

func main() {
	a := make([]byte, 8<<20)
	b := make([]byte, 8<<20)
	before := runtime.NumGoroutine()
	go func() { // LINE:spawn
		fill(a)    // LINE:call
		copy(b, a) // LINE:copy
	}()
	for runtime.NumGoroutine() > before {
		runtime.Gosched()
	}
	a[5<<20+1] = 1 // LINE:poke_a
	b[6<<20+3] = 2 // LINE:poke_b
	fmt.Printf("a at %p\nb at %p\n", &a[5<<20+1], &b[6<<20+3])
}
