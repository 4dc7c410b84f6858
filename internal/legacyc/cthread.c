//go:build cgo && linux

// C threads that call into Go: what a C program's own threads do when they
// use a Go library built with -buildmode=c-archive/c-shared or call back
// through cgo. See cthread.go.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "_cgo_export.h"

static void *legacyc_thread_main(void *arg) {
	legacycThreadBody((uintptr_t)arg);
	return NULL;
}

// legacyc_run_thread runs the Go function behind handle h on a new joinable
// C thread and joins it (so glibc caches its stack for the next thread).
// If next_tid > 0, the thread id the kernel hands out next is chosen first
// by writing next_tid-1 to /proc/sys/kernel/ns_last_pid (CAP_SYS_ADMIN in
// the PID namespace; the id is used only if it is free). Returns 0 or an
// errno.
int legacyc_run_thread(uintptr_t h, int next_tid) {
	pthread_t t;
	int err;
	if (next_tid > 0) {
		char buf[32];
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		if (fd < 0) {
			return errno;
		}
		int n = snprintf(buf, sizeof buf, "%d", next_tid - 1);
		if (write(fd, buf, n) != n) {
			err = errno;
			close(fd);
			return err;
		}
		close(fd);
	}
	if ((err = pthread_create(&t, NULL, legacyc_thread_main, (void *)h)) != 0) {
		return err;
	}
	return pthread_join(t, NULL);
}
