// Package proctree kills a server together with the children it forked, and
// tells whether a process still runs, from /proc. A PostgreSQL postmaster's
// backends each lead a session of their own, so a signal to its process
// group misses them: they are found by parent. Where there is no /proc the
// children are not found and only the server itself is killed.
package proctree

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KillTree kills pid and its children, reaps pid with wait, and waits (10 s
// at most) until the children are gone. The parent is stopped first so
// that it forks no child while they are listed.
func KillTree(pid int, wait func() error) {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if state, _, ok := stat(pid); !ok || state == "T" || state == "Z" {
			break
		}
	}
	children := Children(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, child := range children {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, child := range children {
		for Running(child) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Children lists the processes whose parent is pid.
func Children(pid int) []int {
	var children []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if _, ppid, ok := stat(child); ok && ppid == pid {
			children = append(children, child)
		}
	}
	return children
}

// Running tells whether a process exists and is no zombie: a zombie holds
// no memory, and whoever inherited it may never reap it.
func Running(pid int) bool {
	state, _, ok := stat(pid)
	return ok && state != "Z" && state != "X"
}

// stat reads the state and parent of a process from /proc; ok is false
// where there is no such process, or no /proc.
func stat(pid int) (state string, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, true
}
