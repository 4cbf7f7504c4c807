// The documented fix for the unprotected global map: a mutex.
package main

import (
	"fmt"
	"sync"
)

type Addr string

var (
	service   map[string]Addr
	serviceMu sync.Mutex
)

func RegisterService(name string, addr Addr) {
	serviceMu.Lock()
	defer serviceMu.Unlock()
	service[name] = addr
}

func LookupService(name string) Addr {
	serviceMu.Lock()
	defer serviceMu.Unlock()
	return service[name]
}

func main() {
	service = make(map[string]Addr)
	done := make(chan bool)
	go func() {
		RegisterService("db", "10.0.0.1:5432")
		done <- true
	}()
	fmt.Printf("%q\n", LookupService("cache"))
	<-done
	fmt.Printf("%q\n", LookupService("db"))
}
