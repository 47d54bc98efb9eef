/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the kernel's API, in userspace, to build arch/x86/pic.c,
 * ioapic.c and pit.c unchanged for the irqchip unit tests.  Time is fake
 * (shim_now_ns, moved by the tests); hrtimers and delayed work only
 * record what was asked and are fired by the test harness.
 */
#ifndef _IRQCHIP_KSHIM_H
#define _IRQCHIP_KSHIM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/types.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;

#define BIT(n)			(1UL << (n))
#define BIT_ULL(n)		(1ULL << (n))
#define GENMASK_ULL(h, l)	((~0ULL >> (63 - (h))) & (~0ULL << (l)))

#define READ_ONCE(x)		(*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define smp_store_release(p, v)	WRITE_ONCE(*(p), v)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define max_t(t, a, b)		((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define min_t(t, a, b)		((t)(a) < (t)(b) ? (t)(a) : (t)(b))

extern int shim_warnings;
#define WARN_ON_ONCE(cond) ({						\
	int __c = !!(cond);						\
	if (__c)							\
		shim_warnings++;	/* the tests count them */	\
	__c;								\
})

/* Allocation */
#define GFP_KERNEL_ACCOUNT	0
#define kzalloc(size, gfp)	calloc(1, (size))
#define kfree(p)		free(p)

/* Locks: single-threaded tests; count them to catch imbalance. */
extern int shim_locks_held;
typedef struct { int held; } spinlock_t;
#define spin_lock_init(l)	((l)->held = 0)
#define spin_lock_irqsave(l, f)	do { (f) = 0; (l)->held++; shim_locks_held++; } while (0)
#define spin_unlock_irqrestore(l, f) \
	do { (void)(f); (l)->held--; shim_locks_held--; } while (0)

/* Time */
typedef s64 ktime_t;
#define NSEC_PER_USEC		1000LL
#define NSEC_PER_SEC		1000000000L
#define HZ			250
extern s64 shim_now_ns;
static inline ktime_t ktime_get(void) { return shim_now_ns; }
static inline s64 ktime_to_ns(ktime_t t) { return t; }
static inline ktime_t ns_to_ktime(s64 ns) { return ns; }
static inline ktime_t ktime_sub(ktime_t a, ktime_t b) { return a - b; }
static inline ktime_t ktime_add_ns(ktime_t a, s64 ns) { return a + ns; }

static inline u64 mul_u64_u32_div(u64 a, u32 mul, u32 div)
{
	return (u64)(((unsigned __int128)a * mul) / div);
}

static inline u64 div_u64_rem(u64 dividend, u32 divisor, u32 *rem)
{
	*rem = dividend % divisor;
	return dividend / divisor;
}

#define array_index_nospec(i, n)	(i)

/* hrtimer: the harness fires expired timers (shim_run_timers). */
enum hrtimer_restart { HRTIMER_NORESTART, HRTIMER_RESTART };
enum hrtimer_mode { HRTIMER_MODE_ABS };
struct hrtimer {
	enum hrtimer_restart (*function)(struct hrtimer *);
	bool active;
	s64 expires;
};
void hrtimer_init(struct hrtimer *t, clockid_t clock, enum hrtimer_mode mode);
void hrtimer_start(struct hrtimer *t, ktime_t expires, enum hrtimer_mode mode);
int hrtimer_cancel(struct hrtimer *t);
u64 hrtimer_forward_now(struct hrtimer *t, ktime_t interval);

/* Delayed work: recorded; the harness runs it (shim_run_work). */
struct work_struct {
	void (*func)(struct work_struct *);
};
struct delayed_work {
	struct work_struct work;
	bool pending;
	unsigned long delay;
};
#define to_delayed_work(w)	container_of(w, struct delayed_work, work)
#define INIT_DELAYED_WORK(dw, fn) \
	do { (dw)->work.func = (fn); (dw)->pending = false; } while (0)
bool schedule_delayed_work(struct delayed_work *dw, unsigned long delay);
bool cancel_delayed_work_sync(struct delayed_work *dw);

#endif
