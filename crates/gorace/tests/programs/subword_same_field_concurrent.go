// Two goroutines writing the same byte field race; the neighbouring fields, written
// by each goroutine alone, do not. Here the goroutines run at the same time, so their
// updates of the one shadowed word can be simultaneous.
package main

import (
	"fmt"
	"sync"
)

type Bytes struct{ a, b, c byte }

func main() {
	s := &Bytes{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // LINE:spawn1
		defer wg.Done()
		s.a = 1 // LINE:own-a
		s.b = 1 // LINE:first
	}()
	go func() { // LINE:spawn2
		defer wg.Done()
		s.c = 2 // LINE:own-c
		s.b = 2 // LINE:second
	}()
	wg.Wait()
	fmt.Println(s.a, s.c)
	fmt.Printf("b at %p\n", &s.b)
}
