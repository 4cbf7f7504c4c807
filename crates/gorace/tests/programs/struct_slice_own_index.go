// Each goroutine writes the fields of its own element of a slice of structs: no race.
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
	for i := range pts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pts[i].X = i
			pts[i].Y = -i
			pts[i].Tag = byte('a' + i)
		}()
	}
	wg.Wait()
	fmt.Println(pts[7])
}
