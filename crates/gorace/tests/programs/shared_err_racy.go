// Accidentally shared variable (race detector documentation, "Typical Data Races"):
// the goroutines assign the `err` of ParallelWrite.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// ParallelWrite writes data to file1 and file2, returns the errors.
func ParallelWrite(dir string, data []byte) chan error {
	res := make(chan error, 2)
	f1, err := os.Create(filepath.Join(dir, "file1"))
	if err != nil {
		res <- err
	} else {
		go func() { // LINE:spawn1
			// This err is shared with the main goroutine,
			// so the write races with the write below.
			_, err = f1.Write(data) // LINE:write1
			res <- err              // LINE:send1
			f1.Close()
		}()
	}
	f2, err := os.Create(filepath.Join(dir, "file2")) // LINE:create2 The second conflicting write to err.
	if err != nil {                                   // LINE:check2
		res <- err
	} else {
		go func() { // LINE:spawn2
			_, err = f2.Write(data) // LINE:write2
			res <- err              // LINE:send2
			f2.Close()
		}()
	}
	return res
}

func main() {
	dir, err := os.MkdirTemp("", "gorace-shared-err")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	res := ParallelWrite(dir, []byte("data"))
	fmt.Println(<-res, <-res)
}
