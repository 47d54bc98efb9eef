// SPDX-License-Identifier: GPL-2.0
/*
 * Test harness: case registration, forking, timeouts and TAP output.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm_test.h"

/* Exit codes of a case's child, as in kselftest. */
#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4

static struct vmm_test_case *cases, **cases_tail = &cases;

/*
 * The child writes its SKIP reason here; it is a shared mapping because the
 * parent prints the reason on the TAP line itself.
 */
static char *skip_reason;
#define SKIP_REASON_MAX 256

void vmm_test_register(struct vmm_test_case *tc)
{
	*cases_tail = tc;
	cases_tail = &tc->next;
}

void vmm_test_fail(const char *file, int line, const char *expr,
		   const char *fmt, ...)
{
	va_list ap;

	printf("# %s:%d: ", file, line);
	if (expr)
		printf("%s: ", expr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	/* _exit: the case may have threads still running the guest. */
	_exit(KSFT_FAIL);
}

void vmm_test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (skip_reason)
		vsnprintf(skip_reason, SKIP_REASON_MAX, fmt, ap);
	va_end(ap);
	fflush(stdout);
	_exit(KSFT_SKIP);
}

void vmm_test_info(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

uint64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

/* Runs one case in a child; returns KSFT_* and fills skip_reason. */
static int run_case(struct vmm_test_case *tc)
{
	unsigned int timeout = tc->timeout ? tc->timeout :
					     VMM_TEST_DEFAULT_TIMEOUT;
	int status;
	pid_t pid;

	skip_reason[0] = '\0';
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("# fork: %s\n", strerror(errno));
		return KSFT_FAIL;
	}
	if (pid == 0) {
		/* A hung guest must not hang the whole run. */
		alarm(timeout);
		tc->fn();
		fflush(stdout);
		_exit(KSFT_PASS);
	}
	if (waitpid(pid, &status, 0) < 0) {
		printf("# waitpid: %s\n", strerror(errno));
		return KSFT_FAIL;
	}
	if (WIFSIGNALED(status)) {
		if (WTERMSIG(status) == SIGALRM)
			printf("# %s: timed out after %u s\n", tc->name,
			       timeout);
		else
			printf("# %s: killed by signal %d (%s)\n", tc->name,
			       WTERMSIG(status), strsignal(WTERMSIG(status)));
		return KSFT_FAIL;
	}
	switch (WEXITSTATUS(status)) {
	case KSFT_PASS:
		return KSFT_PASS;
	case KSFT_SKIP:
		return KSFT_SKIP;
	default:
		return KSFT_FAIL;
	}
}

int vmm_test_main(int argc, char **argv)
{
	unsigned int planned = 0, n = 0, pass = 0, fail = 0, skip = 0;
	struct vmm_test_case *tc;

	/* Line-buffered so TAP lines interleave correctly with the child's. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	skip_reason = mmap(NULL, SKIP_REASON_MAX, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (skip_reason == MAP_FAILED) {
		perror("mmap");
		return KSFT_FAIL;
	}

	for (tc = cases; tc; tc = tc->next)
		if (selected(tc->name, argc, argv))
			planned++;

	printf("TAP version 13\n");
	printf("1..%u\n", planned);
	for (tc = cases; tc; tc = tc->next) {
		if (!selected(tc->name, argc, argv))
			continue;
		n++;
		switch (run_case(tc)) {
		case KSFT_PASS:
			printf("ok %u %s\n", n, tc->name);
			pass++;
			break;
		case KSFT_SKIP:
			printf("ok %u %s # SKIP %s\n", n, tc->name,
			       skip_reason[0] ? skip_reason : "skipped");
			skip++;
			break;
		default:
			printf("not ok %u %s\n", n, tc->name);
			fail++;
			break;
		}
	}
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       pass, fail, skip);

	if (fail)
		return KSFT_FAIL;
	if (skip && !pass)
		return KSFT_SKIP;
	return KSFT_PASS;
}
