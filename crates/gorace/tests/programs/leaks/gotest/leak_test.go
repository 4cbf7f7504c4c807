// Parallel subtests that each leak a goroutine of their own; a clean test.
package leaks

import "testing"

func leakSend() {
	ch := make(chan int)
	go func() { // LINE:send-spawn
		ch <- 1
	}()
}

func leakRecv() {
	ch := make(chan int)
	go func() { // LINE:recv-spawn
		<-ch
	}()
}

func TestParallel(t *testing.T) {
	t.Run("send", func(t *testing.T) {
		t.Parallel()
		leakSend() // LINE:send-call
	})
	t.Run("recv", func(t *testing.T) {
		t.Parallel()
		leakRecv() // LINE:recv-call
	})
}

func TestClean(t *testing.T) {
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
}
