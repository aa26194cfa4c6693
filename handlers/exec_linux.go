//go:build linux

package handlers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// execute starts cmd and runs it to the end in the calling goroutine: the
// event goes into the stdin pipe before the script starts when it fits
// (the common case, so no writer is needed), and one poll(2) loop watches
// the script's exit (a pidfd), its stdout and stderr, and what is left of
// a large stdin. exited is called the moment the script's own process
// has exited; its output is then drained for up to pipeDelay, then Wait
// reaps it. started is false when the script could not be started (err
// says why); otherwise err is Wait's.
func (rn *Runner) execute(cmd *exec.Cmd, input []byte, stdout, stderr io.Writer, exited func()) (started bool, err error) {
	// fds: stdin read, stdin write, stdout read, stdout write, stderr
	// read, stderr write. The parent's ends are non-blocking.
	fds := [6]int{-1, -1, -1, -1, -1, -1}
	closeFd := func(i int) {
		if fds[i] >= 0 {
			_ = unix.Close(fds[i])
			fds[i] = -1
		}
	}
	defer func() {
		for i := range fds {
			closeFd(i)
		}
	}()
	for i := 0; i < 6; i += 2 {
		if err := unix.Pipe2(fds[i:i+2], unix.O_CLOEXEC); err != nil {
			return false, fmt.Errorf("make pipes: %w", err)
		}
	}
	for _, i := range []int{1, 2, 4} {
		if err := unix.SetNonblock(fds[i], true); err != nil {
			return false, fmt.Errorf("make pipes: %w", err)
		}
	}
	pending := input
	if n, err := unix.Write(fds[1], pending); err == nil {
		pending = pending[n:]
	}
	if len(pending) == 0 {
		closeFd(1)
	}
	child := [3]*os.File{os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[3]), "stdout"), os.NewFile(uintptr(fds[5]), "stderr")}
	fds[0], fds[3], fds[5] = -1, -1, -1 // the files own them now
	cmd.Stdin, cmd.Stdout, cmd.Stderr = child[0], child[1], child[2]
	startErr := cmd.Start()
	for _, f := range child {
		_ = f.Close()
	}
	if startErr != nil {
		return false, startErr
	}

	// The exit is seen on a pidfd; without one (an old kernel, a seccomp
	// filter) a goroutine waits for it without reaping and closes a pipe.
	exitFd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	var waiterDone chan struct{}
	if err != nil {
		var wake [2]int
		if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
			exited()
			return true, cmd.Wait()
		}
		exitFd, waiterDone = wake[0], make(chan struct{})
		pid := cmd.Process.Pid
		go func() {
			defer close(waiterDone)
			defer unix.Close(wake[1])
			var info unix.Siginfo
			for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
			}
		}()
	}
	defer func() {
		if exitFd >= 0 {
			_ = unix.Close(exitFd)
		}
		if waiterDone != nil {
			<-waiterDone
		}
	}()

	bufp := rn.bufs.Get().(*[]byte)
	defer rn.bufs.Put(bufp)
	buf := *bufp
	drain := func(i int, w io.Writer) {
		for {
			n, err := unix.Read(fds[i], buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
			}
			switch {
			case err == unix.EINTR:
			case err == unix.EAGAIN:
				return
			case err != nil || n == 0:
				closeFd(i)
				return
			}
		}
	}
	var exitAt time.Time
	for {
		var pfds [4]unix.PollFd
		var who [4]int // fds index, or -1 for the exit
		n := 0
		if exitAt.IsZero() {
			pfds[n], who[n] = unix.PollFd{Fd: int32(exitFd), Events: unix.POLLIN}, -1
			n++
		}
		for _, i := range []int{2, 4} {
			if fds[i] >= 0 {
				pfds[n], who[n] = unix.PollFd{Fd: int32(fds[i]), Events: unix.POLLIN}, i
				n++
			}
		}
		if fds[1] >= 0 {
			pfds[n], who[n] = unix.PollFd{Fd: int32(fds[1]), Events: unix.POLLOUT}, 1
			n++
		}
		if n == 0 {
			break
		}
		timeout := -1
		if !exitAt.IsZero() {
			left := pipeDelay - time.Since(exitAt)
			if left <= 0 {
				break // what the script left behind still holds its output
			}
			timeout = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		if _, err := unix.Poll(pfds[:n], timeout); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			rn.log.Error("watch a script", "command", cmd.Path, "err", err)
			break
		}
		for k := range n {
			if pfds[k].Revents == 0 {
				continue
			}
			switch i := who[k]; i {
			case -1:
				exitAt = time.Now()
				closeFd(1) // nobody is left to read the rest
				exited()
			case 2:
				drain(2, stdout)
			case 4:
				drain(4, stderr)
			case 1:
				for len(pending) > 0 {
					m, err := unix.Write(fds[1], pending)
					if err == unix.EINTR {
						continue
					}
					if err == unix.EAGAIN {
						break
					}
					if err != nil { // EPIPE: the script stopped reading
						pending = nil
						break
					}
					pending = pending[m:]
				}
				if len(pending) == 0 {
					closeFd(1)
				}
			}
		}
	}
	if exitAt.IsZero() {
		exited()
	}
	closeFd(2)
	closeFd(4)
	return true, cmd.Wait()
}
