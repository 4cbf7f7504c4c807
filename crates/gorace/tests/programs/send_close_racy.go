// Unsynchronized send and close operations (race detector documentation, "Typical
// Data Races"). The sender recovers from "send on closed channel" so the program
// ends normally whichever operation comes first.
package main

func main() {
	c := make(chan struct{}) // or buffered channel
	done := make(chan bool)
	go func() { // LINE:spawn
		defer func() {
			recover()
			done <- true
		}()
		c <- struct{}{} // LINE:send
	}()
	close(c) // LINE:close
	<-done
}
