// Heap memory that Go gives back to the kernel has its shadow given back too, and
// objects allocated there later are checked afresh: the accesses to the objects that
// died there are forgotten (no report about them, even though the new objects' are
// unordered with them), and a race on a new object is still found.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

type node struct {
	a, b int64
	pad  [6]int64
}

// primaryShadowKB is the resident size of gorace's primary shadow plane (or of
// nothing, under another runtime).
func primaryShadowKB() int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	in, kb := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if r := strings.SplitN(fields[0], "-", 2); len(r) == 2 && !strings.HasSuffix(fields[0], ":") {
			start, err := strconv.ParseUint(r[0], 16, 64)
			in = err == nil && start >= 0x200000000000 && start < 0x240000000000
		} else if in && fields[0] == "Rss:" {
			n, _ := strconv.Atoi(fields[1])
			kb += n
		}
	}
	return kb
}

// fill makes n nodes and has two goroutines write every one, without ordering
// between the goroutines and whoever uses the nodes next.
func fill(n int) []*node {
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = &node{a: int64(i)}
	}
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				nodes[i].b = nodes[i].a + 1
			}
		}(w)
	}
	wg.Wait()
	return nodes
}

var sink [][]byte

func main() {
	const n = 1 << 19 // 32 MiB of nodes
	fmt.Println(len(fill(n)) == n) // the nodes die here
	before := primaryShadowKB()
	runtime.GC()
	debug.FreeOSMemory()
	// Allocate for a while: some malloc takes the turn to trim.
	after := before
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		for i := 0; i < 64; i++ {
			sink = append(sink, make([]byte, 64<<10))
		}
		sink = sink[:0]
		time.Sleep(10 * time.Millisecond)
		if after = primaryShadowKB(); after < before/4 {
			break
		}
	}
	if after < before/4 {
		fmt.Println("shadow given back: true")
	} else {
		fmt.Printf("shadow given back: false (primary shadow %d KiB before, %d KiB after)\n", before, after)
	}

	// New nodes, likely in the same memory, written by goroutines that know nothing
	// of the first ones' writers.
	second := fill(n)
	var x int64
	done := make(chan bool)
	go func() { // LINE:spawn
		x = second[1].b // LINE:write-goroutine
		done <- true
	}()
	x = second[0].b // LINE:write-main
	<-done
	fmt.Println(x > 0)
}
