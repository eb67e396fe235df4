/*
 * fx: the self-checking side of a Cryo conformance fixture.
 *
 * A fixture puts itself into a state, announces it is ready to be dumped, carries on, and when the
 * harness asks (SIGUSR2) it verifies its own state and reports PASS or "FAIL: why".
 *
 * Protocol with the harness (all paths come from the environment):
 *   CRYO_FX_READY   file the fixture writes "<pid>\n" to once it is ready (atomically, via rename)
 *   CRYO_FX_RESULT  file the verdict goes to: "PASS\n" or "FAIL: why\n" (atomically, via rename)
 *   CRYO_FX_CMD     file holding a command line (read on SIGUSR1, see fx_take_command)
 *   CRYO_FX_ACK     file the fixture writes "<seq>\n" to once a command is done
 * SIGUSR2 asks for the verdict; SIGUSR1 says "a command is waiting".
 */
#ifndef CRYO_FX_H
#define CRYO_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/* Installs the SIGUSR2/SIGUSR1 handlers and remembers the environment. Call first. */
void fx_init(const char *name);

/* Writes the ready marker: the fixture is in the state it wants to be dumped in. */
void fx_ready(void);

/* True once the harness asked for the verdict. Safe to poll in a loop. */
int fx_verify_requested(void);

/* Blocks until the harness asks for the verdict; survives interruptions (EINTR after a restore). */
void fx_wait_verify(void);

/* True once, for each SIGUSR1: a command waits in CRYO_FX_CMD. */
int fx_command_pending(void);

/* Reads the waiting command into buf (one line, no newline). Returns its sequence number or -1. */
long fx_take_command(char *buf, size_t len);

/* Acknowledges command seq. */
void fx_ack_command(long seq);

/* Writes the verdict and exits (0 on PASS, 1 on FAIL). */
void fx_pass(void) __attribute__((noreturn));
void fx_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Records a failure to report later, keeping the first one; fx_finish passes or fails with it. */
void fx_note_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fx_failed(void);
void fx_finish(void) __attribute__((noreturn));

/* Sleeps ms milliseconds of CLOCK_MONOTONIC, resuming after EINTR; returns early if verify was asked. */
void fx_sleep_ms(long ms);

/* A tree's verdict: asks each of the n children for theirs (SIGUSR2), waits for each, and returns 1 when all
   exited 0 (one that cannot be waited for is named on stderr). */
int fx_children_passed(const pid_t *kids, int n);

/* Small deterministic PRNG (xorshift64*), the same in every fixture. */
unsigned long long fx_rand(unsigned long long *state);

/* Parses "--key=value" style options: returns value of key or def. */
long fx_opt_long(int argc, char **argv, const char *key, long def);
const char *fx_opt_str(int argc, char **argv, const char *key, const char *def);

#endif
