/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD call counter for the benchmark suite: counts, per thread, the heap allocations
 * (libc and rte_malloc) and the lock calls a process makes, so the suite can show that the
 * data path makes none per request.
 *
 *   VHD_COUNT_FILE=/path/counts LD_PRELOAD=.../libvhd_count.so vhostd -c ...
 *
 * The counters live in VHD_COUNT_FILE, a shared mapping the suite reads at the start and the
 * end of a measured window (tests/bench/suite.py, read_counts()). Layout, all little-endian:
 *   header: u64 magic, u32 slots, u32 counters, char names[COUNTERS][16], u32 used, u32 pad
 *   slot:   i32 tid, u32 pad, u64 count[COUNTERS]            (one slot per thread)
 * Only the owning thread writes a slot; aligned 64-bit stores cannot tear on x86-64.
 *
 * Inline locks (rte_spinlock, atomics) cannot be seen from here: blocking on any lock shows
 * up as futex system calls, which the suite counts with perf (or strace) alongside.
 * Without VHD_COUNT_FILE the library only forwards calls.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define COUNT_MAGIC 0x31746e6364687600ull /* "\0vhdcnt1" */
#define COUNT_SLOTS 256

enum counter {
	C_MALLOC,     /* malloc, calloc, realloc, memalign family */
	C_FREE,
	C_RTE_MALLOC, /* rte_malloc, rte_zmalloc, rte_calloc, rte_realloc (+ _socket) */
	C_RTE_FREE,
	C_MUTEX,      /* pthread_mutex_lock/trylock/timedlock */
	C_RWLOCK,     /* pthread_rwlock_rdlock/wrlock/try* */
	C_SPIN,       /* pthread_spin_lock/trylock */
	C_SEM_WAIT,   /* sem_wait/trywait/timedwait */
	C_SEM_POST,
	C_COUNT
};

static const char g_names[C_COUNT][16] = {
	"malloc", "free", "rte_malloc", "rte_free", "mutex_lock", "rwlock_lock", "spin_lock",
	"sem_wait", "sem_post",
};

struct slot {
	int32_t tid;
	uint32_t pad;
	uint64_t count[C_COUNT];
};

struct table {
	uint64_t magic;
	uint32_t slots;
	uint32_t counters;
	char names[C_COUNT][16];
	uint32_t used;
	uint32_t pad;
	struct slot slot[COUNT_SLOTS];
};

/* glibc's own entry points: calling them cannot recurse into our wrappers. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);

static struct table *g_table;
static int g_state; /* 0: not tried, 1: being set up, 2: done (g_table may still be NULL) */
static __thread struct slot *t_slot __attribute__((tls_model("initial-exec")));

static void
table_init(void)
{
	const char *path = getenv("VHD_COUNT_FILE");
	struct table *t;
	int fd;

	if (path == NULL || path[0] == '\0') {
		return;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		return;
	}
	if (ftruncate(fd, sizeof(*t)) != 0) {
		close(fd);
		return;
	}
	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (t == MAP_FAILED) {
		return;
	}
	t->slots = COUNT_SLOTS;
	t->counters = C_COUNT;
	memcpy(t->names, g_names, sizeof(g_names));
	__atomic_store_n(&t->magic, COUNT_MAGIC, __ATOMIC_RELEASE);
	g_table = t;
}

static inline void
count(enum counter c)
{
	struct slot *s = t_slot;

	if (__builtin_expect(s == NULL, 0)) {
		int expected = 0;
		uint32_t i;

		if (__atomic_compare_exchange_n(&g_state, &expected, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			table_init();
			__atomic_store_n(&g_state, 2, __ATOMIC_RELEASE);
		}
		if (__atomic_load_n(&g_state, __ATOMIC_ACQUIRE) != 2 || g_table == NULL) {
			return;
		}
		i = __atomic_fetch_add(&g_table->used, 1, __ATOMIC_RELAXED);
		s = &g_table->slot[i < COUNT_SLOTS ? i : COUNT_SLOTS - 1];
		if (i < COUNT_SLOTS) {
			s->tid = (int32_t)gettid();
		} else {
			s->tid = -1; /* overflow: every further thread shares the last slot */
		}
		t_slot = s;
	}
	s->count[c]++;
}

/* ---- libc heap ---- */

void *
malloc(size_t size)
{
	count(C_MALLOC);
	return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
	count(C_MALLOC);
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
	count(C_MALLOC);
	return __libc_realloc(p, size);
}

void
free(void *p)
{
	if (p != NULL) {
		count(C_FREE);
	}
	__libc_free(p);
}

void *
memalign(size_t align, size_t size)
{
	count(C_MALLOC);
	return __libc_memalign(align, size);
}

void *
aligned_alloc(size_t align, size_t size)
{
	count(C_MALLOC);
	return __libc_memalign(align, size);
}

void *
valloc(size_t size)
{
	count(C_MALLOC);
	return __libc_valloc(size);
}

int
posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	count(C_MALLOC);
	if (align < sizeof(void *) || (align & (align - 1)) != 0) {
		return EINVAL;
	}
	p = __libc_memalign(align, size);
	if (p == NULL) {
		return ENOMEM;
	}
	*out = p;
	return 0;
}

/* ---- forwarding to the next definition (DPDK, libc's pthread) ---- */

#define NEXT(name, type)                                                                 \
	static type next_##name;                                                         \
	if (next_##name == NULL) {                                                       \
		next_##name = (type)dlsym(RTLD_NEXT, #name);                             \
		if (next_##name == NULL) {                                               \
			abort();                                                         \
		}                                                                        \
	}

void *rte_malloc(const char *type, size_t size, unsigned int align);
void *rte_zmalloc(const char *type, size_t size, unsigned int align);
void *rte_calloc(const char *type, size_t num, size_t size, unsigned int align);
void *rte_realloc(void *ptr, size_t size, unsigned int align);
void *rte_malloc_socket(const char *type, size_t size, unsigned int align, int socket);
void *rte_zmalloc_socket(const char *type, size_t size, unsigned int align, int socket);
void *rte_calloc_socket(const char *type, size_t num, size_t size, unsigned int align,
			int socket);
void *rte_realloc_socket(void *ptr, size_t size, unsigned int align, int socket);
void rte_free(void *ptr);

typedef void *(*rte_malloc_fn)(const char *, size_t, unsigned int);
typedef void *(*rte_calloc_fn)(const char *, size_t, size_t, unsigned int);
typedef void *(*rte_realloc_fn)(void *, size_t, unsigned int);
typedef void *(*rte_malloc_socket_fn)(const char *, size_t, unsigned int, int);
typedef void *(*rte_calloc_socket_fn)(const char *, size_t, size_t, unsigned int, int);
typedef void *(*rte_realloc_socket_fn)(void *, size_t, unsigned int, int);
typedef void (*rte_free_fn)(void *);

void *
rte_malloc(const char *type, size_t size, unsigned int align)
{
	NEXT(rte_malloc, rte_malloc_fn);
	count(C_RTE_MALLOC);
	return next_rte_malloc(type, size, align);
}

void *
rte_zmalloc(const char *type, size_t size, unsigned int align)
{
	NEXT(rte_zmalloc, rte_malloc_fn);
	count(C_RTE_MALLOC);
	return next_rte_zmalloc(type, size, align);
}

void *
rte_calloc(const char *type, size_t num, size_t size, unsigned int align)
{
	NEXT(rte_calloc, rte_calloc_fn);
	count(C_RTE_MALLOC);
	return next_rte_calloc(type, num, size, align);
}

void *
rte_realloc(void *ptr, size_t size, unsigned int align)
{
	NEXT(rte_realloc, rte_realloc_fn);
	count(C_RTE_MALLOC);
	return next_rte_realloc(ptr, size, align);
}

void *
rte_malloc_socket(const char *type, size_t size, unsigned int align, int socket)
{
	NEXT(rte_malloc_socket, rte_malloc_socket_fn);
	count(C_RTE_MALLOC);
	return next_rte_malloc_socket(type, size, align, socket);
}

void *
rte_zmalloc_socket(const char *type, size_t size, unsigned int align, int socket)
{
	NEXT(rte_zmalloc_socket, rte_malloc_socket_fn);
	count(C_RTE_MALLOC);
	return next_rte_zmalloc_socket(type, size, align, socket);
}

void *
rte_calloc_socket(const char *type, size_t num, size_t size, unsigned int align, int socket)
{
	NEXT(rte_calloc_socket, rte_calloc_socket_fn);
	count(C_RTE_MALLOC);
	return next_rte_calloc_socket(type, num, size, align, socket);
}

void *
rte_realloc_socket(void *ptr, size_t size, unsigned int align, int socket)
{
	NEXT(rte_realloc_socket, rte_realloc_socket_fn);
	count(C_RTE_MALLOC);
	return next_rte_realloc_socket(ptr, size, align, socket);
}

void
rte_free(void *ptr)
{
	NEXT(rte_free, rte_free_fn);
	if (ptr != NULL) {
		count(C_RTE_FREE);
	}
	next_rte_free(ptr);
}

/* ---- locks ---- */

typedef int (*mutex_fn)(pthread_mutex_t *);
typedef int (*mutex_timed_fn)(pthread_mutex_t *, const struct timespec *);
typedef int (*rwlock_fn)(pthread_rwlock_t *);
typedef int (*spin_fn)(pthread_spinlock_t *);
typedef int (*sem_fn)(sem_t *);
typedef int (*sem_timed_fn)(sem_t *, const struct timespec *);

int
pthread_mutex_lock(pthread_mutex_t *m)
{
	NEXT(pthread_mutex_lock, mutex_fn);
	count(C_MUTEX);
	return next_pthread_mutex_lock(m);
}

int
pthread_mutex_trylock(pthread_mutex_t *m)
{
	NEXT(pthread_mutex_trylock, mutex_fn);
	count(C_MUTEX);
	return next_pthread_mutex_trylock(m);
}

int
pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *t)
{
	NEXT(pthread_mutex_timedlock, mutex_timed_fn);
	count(C_MUTEX);
	return next_pthread_mutex_timedlock(m, t);
}

int
pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	NEXT(pthread_rwlock_rdlock, rwlock_fn);
	count(C_RWLOCK);
	return next_pthread_rwlock_rdlock(l);
}

int
pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	NEXT(pthread_rwlock_wrlock, rwlock_fn);
	count(C_RWLOCK);
	return next_pthread_rwlock_wrlock(l);
}

int
pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	NEXT(pthread_rwlock_tryrdlock, rwlock_fn);
	count(C_RWLOCK);
	return next_pthread_rwlock_tryrdlock(l);
}

int
pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	NEXT(pthread_rwlock_trywrlock, rwlock_fn);
	count(C_RWLOCK);
	return next_pthread_rwlock_trywrlock(l);
}

int
pthread_spin_lock(pthread_spinlock_t *l)
{
	NEXT(pthread_spin_lock, spin_fn);
	count(C_SPIN);
	return next_pthread_spin_lock(l);
}

int
pthread_spin_trylock(pthread_spinlock_t *l)
{
	NEXT(pthread_spin_trylock, spin_fn);
	count(C_SPIN);
	return next_pthread_spin_trylock(l);
}

int
sem_wait(sem_t *s)
{
	NEXT(sem_wait, sem_fn);
	count(C_SEM_WAIT);
	return next_sem_wait(s);
}

int
sem_trywait(sem_t *s)
{
	NEXT(sem_trywait, sem_fn);
	count(C_SEM_WAIT);
	return next_sem_trywait(s);
}

int
sem_timedwait(sem_t *s, const struct timespec *t)
{
	NEXT(sem_timedwait, sem_timed_fn);
	count(C_SEM_WAIT);
	return next_sem_timedwait(s, t);
}

int
sem_post(sem_t *s)
{
	NEXT(sem_post, sem_fn);
	count(C_SEM_POST);
	return next_sem_post(s);
}
