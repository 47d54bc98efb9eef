// SPDX-License-Identifier: GPL-2.0
/* The userspace stand-ins kshim.h declares: fake time, hrtimers, work. */
#include "kshim.h"
#include "shim.h"

int shim_warnings;
int shim_locks_held;
s64 shim_now_ns = 1000000000LL;	/* start at 1 s: load times stay positive */

/* The active (started, not cancelled, not expired) timers. */
#define SHIM_MAX_TIMERS 8
static struct hrtimer *active[SHIM_MAX_TIMERS];

static void timer_add(struct hrtimer *t)
{
	int i;

	for (i = 0; i < SHIM_MAX_TIMERS; i++)
		if (active[i] == t)
			return;
	for (i = 0; i < SHIM_MAX_TIMERS; i++) {
		if (!active[i]) {
			active[i] = t;
			t->active = true;
			return;
		}
	}
	fprintf(stderr, "shim: too many timers\n");
	abort();
}

static int timer_remove(struct hrtimer *t)
{
	int i;

	for (i = 0; i < SHIM_MAX_TIMERS; i++) {
		if (active[i] == t) {
			active[i] = NULL;
			t->active = false;
			return 1;
		}
	}
	return 0;
}

void hrtimer_init(struct hrtimer *t, clockid_t clock, enum hrtimer_mode mode)
{
	(void)clock;
	(void)mode;
	memset(t, 0, sizeof(*t));
}

void hrtimer_start(struct hrtimer *t, ktime_t expires, enum hrtimer_mode mode)
{
	(void)mode;
	t->expires = expires;
	timer_add(t);
}

int hrtimer_cancel(struct hrtimer *t)
{
	return timer_remove(t);
}

u64 hrtimer_forward_now(struct hrtimer *t, ktime_t interval)
{
	u64 overruns = 0;

	while (t->expires <= shim_now_ns) {
		t->expires += interval;
		overruns++;
	}
	return overruns;
}

int shim_active_timers(void)
{
	int i, n = 0;

	for (i = 0; i < SHIM_MAX_TIMERS; i++)
		n += active[i] != NULL;
	return n;
}

s64 shim_timer_expiry(int idx)
{
	int i, n = 0;

	for (i = 0; i < SHIM_MAX_TIMERS; i++)
		if (active[i] && n++ == idx)
			return active[i]->expires;
	return -1;
}

/* Move time forward by ns, firing every expiry on the way, in order. */
void shim_advance(s64 ns)
{
	s64 target = shim_now_ns + ns;
	struct hrtimer *next;
	int i;

	for (;;) {
		next = NULL;
		for (i = 0; i < SHIM_MAX_TIMERS; i++)
			if (active[i] && active[i]->expires <= target &&
			    (!next || active[i]->expires < next->expires))
				next = active[i];
		if (!next)
			break;
		if (next->expires > shim_now_ns)
			shim_now_ns = next->expires;
		timer_remove(next);
		if (next->function(next) == HRTIMER_RESTART)
			timer_add(next);
	}
	shim_now_ns = target;
}

static struct delayed_work *pending_work;

bool schedule_delayed_work(struct delayed_work *dw, unsigned long delay)
{
	if (dw->pending)
		return false;
	dw->pending = true;
	dw->delay = delay;
	pending_work = dw;
	return true;
}

bool cancel_delayed_work_sync(struct delayed_work *dw)
{
	bool was = dw->pending;

	dw->pending = false;
	if (pending_work == dw)
		pending_work = NULL;
	return was;
}

bool shim_work_pending(void)
{
	return pending_work != NULL;
}

void shim_run_work(void)
{
	struct delayed_work *dw = pending_work;

	if (!dw)
		return;
	pending_work = NULL;
	dw->pending = false;
	dw->work.func(&dw->work);
}
