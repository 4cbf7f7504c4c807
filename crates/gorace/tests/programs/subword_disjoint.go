// Different fields of one memory word are different variables: two goroutines writing
// `a` and `b` of struct{a, b byte}, or the two int32 halves of one 8-byte word, do
// not race.
package main

import (
	"fmt"
	"sync"
)

type Bytes struct{ a, b byte }

type Halves struct {
	lo, hi int32
}

func main() {
	bs := &Bytes{}
	hs := &Halves{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			bs.a = byte(i)
			hs.lo = int32(i)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			bs.b = byte(i)
			hs.hi = int32(i)
		}
	}()
	wg.Wait()
	fmt.Println(bs.a, bs.b, hs.lo, hs.hi)
}
