package pglocal

import (
	"os/exec"
	"runtime"
	"syscall"

	"github.com/flusso-go/flusso/pkg/internal/childproc"
)

// spawn starts the server through childproc: it dies with this process,
// even when that one is killed.
func spawn(o spawnOptions) (process, error) {
	return childproc.Start(childproc.Options{
		Name: "postgres", Path: o.Path, Args: o.Args, Log: o.Log,
		Credential: o.Credential, DeathSignal: o.DeathSignal,
	})
}

// combinedOutputDyingWithUs runs cmd as cred and returns its output; cmd is
// killed if this process dies first.
func combinedOutputDyingWithUs(cmd *exec.Cmd, cred *syscall.Credential) ([]byte, error) {
	// Pdeathsig fires when the forking thread ends: keep it for the run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	return cmd.CombinedOutput()
}
