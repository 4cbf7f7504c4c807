// The documented fix for the accidentally shared err: `:=` in the goroutines.
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
		go func() {
			_, err := f1.Write(data)
			res <- err
			f1.Close()
		}()
	}
	f2, err := os.Create(filepath.Join(dir, "file2"))
	if err != nil {
		res <- err
	} else {
		go func() {
			_, err := f2.Write(data)
			res <- err
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
