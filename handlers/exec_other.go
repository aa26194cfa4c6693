//go:build !linux

package handlers

import (
	"bytes"
	"io"
	"os/exec"
)

// execute is the portable form of the Linux one: os/exec's own pipe
// goroutines, and the script's exit seen only once its output is closed
// (or WaitDelay has passed).
func (rn *Runner) execute(cmd *exec.Cmd, input []byte, stdout, stderr io.Writer, exited func()) (started bool, err error) {
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return false, err
	}
	err = cmd.Wait()
	exited()
	return true, err
}
