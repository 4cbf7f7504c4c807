// Two goroutines assigning the whole struct s[0] race.
package main

import (
	"fmt"
	"sync"
)

type Point struct {
	X, Y int
	Tag  byte
}

func main() {
	pts := make([]Point, 8)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // LINE:spawn1
		defer wg.Done()
		pts[0] = Point{X: 1, Y: 1, Tag: 'a'} // LINE:first
	}()
	go func() { // LINE:spawn2
		defer wg.Done()
		pts[0] = Point{X: 2, Y: 2, Tag: 'b'} // LINE:second
	}()
	wg.Wait()
	fmt.Println(pts[0].X > 0)
}
