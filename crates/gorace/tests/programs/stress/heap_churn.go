// Heap churn while memory goes back to the kernel: producers fill new objects and
// hand them over channels to consumers, which change and drop them, while another
// goroutine keeps returning free heap memory to the kernel (debug.FreeOSMemory), so
// that gorace drops the shadow of pages that are handed out again at the same time.
// Every access is ordered by a channel: any report is a false positive (a dead
// object's cell taken for a new one's history).
package main

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

type item struct {
	id   int
	vals [6]int64
	buf  []byte
}

func main() {
	const producers, batch = 4, 512
	stop := make(chan struct{})
	var freeing sync.WaitGroup
	freeing.Add(1)
	go func() {
		defer freeing.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				debug.FreeOSMemory()
			}
		}
	}()

	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	handled := 0
	for p := 0; p < producers; p++ {
		ch := make(chan []*item, 4)
		wg.Add(2)
		go func(p int) { // producer
			defer wg.Done()
			defer close(ch)
			for round := 0; time.Now().Before(deadline); round++ {
				items := make([]*item, batch)
				for i := range items {
					it := &item{id: i, buf: make([]byte, 64+i%3*1024)}
					for j := range it.vals {
						it.vals[j] = int64(p + round + j)
					}
					it.buf[0] = byte(i)
					items[i] = it
				}
				ch <- items
			}
		}(p)
		go func() { // consumer
			defer wg.Done()
			n := 0
			for items := range ch {
				for _, it := range items {
					it.vals[it.id%6]++
					it.buf[len(it.buf)-1] = it.buf[0]
					n += int(it.vals[0] & 1)
				}
			}
			mu.Lock()
			handled += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	freeing.Wait()
	fmt.Println("churn ok", handled >= 0)
}
