// sync.Once misused: a "fast path" checks the variable outside Do (double-checked
// locking), so its read is not ordered after the initialisation.
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

func initConfig() {
	cfg = &Config{name: "prod"} // LINE:init
}

func get() *Config {
	if c := cfg; c != nil { // LINE:fastpath
		return c
	}
	once.Do(initConfig)
	return cfg
}

func main() {
	done := make(chan string)
	go func() { done <- get().name }() // LINE:spawn
	a := get().name                    // LINE:main-get
	fmt.Println(a, <-done)
}
