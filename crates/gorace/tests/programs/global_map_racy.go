// Unprotected global variable (race detector documentation, "Typical Data Races"):
// RegisterService and LookupService called from different goroutines.
package main

import "fmt"

type Addr string

var service map[string]Addr

func RegisterService(name string, addr Addr) {
	service[name] = addr // LINE:register
}

func LookupService(name string) Addr {
	return service[name] // LINE:lookup
}

func main() {
	service = make(map[string]Addr)
	done := make(chan bool)
	go func() { // LINE:spawn
		RegisterService("db", "10.0.0.1:5432") // LINE:call-register
		done <- true
	}()
	fmt.Printf("%q\n", LookupService("cache")) // LINE:call-lookup
	<-done
}
