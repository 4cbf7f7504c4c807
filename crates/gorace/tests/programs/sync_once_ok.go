// sync.Once used correctly: every caller goes through Do, which orders the
// initialisation before each return.
package main

import (
	"fmt"
	"sync"
)

type Config struct{ name string }

var (
	once sync.Once
	cfg  *Config
)

func get() *Config {
	once.Do(func() { cfg = &Config{name: "prod"} })
	return cfg
}

func main() {
	var wg sync.WaitGroup
	names := make([]string, 4)
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			names[i] = get().name
		}()
	}
	wg.Wait()
	fmt.Println(names)
}
