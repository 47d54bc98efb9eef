/* SPDX-License-Identifier: GPL-2.0 */
/* What the tests use to drive the shim's fake time and deferred work. */
#ifndef _IRQCHIP_SHIM_H
#define _IRQCHIP_SHIM_H

extern int shim_warnings;
extern int shim_locks_held;
extern s64 shim_now_ns;

int shim_active_timers(void);
s64 shim_timer_expiry(int idx);
void shim_advance(s64 ns);
bool shim_work_pending(void);
void shim_run_work(void);

#endif
