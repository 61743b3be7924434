/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhostd entry point: arguments, config, EAL, workers, controllers, then wait for signals.
 * Everything else lives in the layer libraries.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_version.h>

#define VHD_LOG_COMPONENT "main"
#include "vhostd/config.h"
#include "vhostd/ctrl.h"
#include "vhostd/log.h"
#include "vhostd/sdnotify.h"
#include "vhostd/thread.h"
#include "vhostd/transport.h"
#include "vhostd/worker.h"

#define EXIT_USAGE 2
#define MAX_EAL_ARGS 32

struct options {
	const char *config;
	const char *log_level;
	bool check;
};

static int g_logtype;

static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s -c FILE [options]\n"
		"User-space vhost-user storage target: serves virtio-blk and virtio-scsi disks to VMs.\n"
		"\n"
		"  -c, --config FILE      configuration file (YAML, see docs/config.md)\n"
		"      --check            validate the configuration and exit\n"
		"  -l, --log-level LEVEL  error|warning|notice|info|debug (overrides log_level)\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT finish in-flight I/O, remove the sockets and exit.\n",
		prog);
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'C'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	enum vhd_log_level level;
	int c;

	while ((c = getopt_long(argc, argv, "c:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'l':
			if (vhd_log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "vhostd: invalid log level '%s' (use error, warning, "
						"notice, info or debug)\n", optarg);
				return EXIT_USAGE;
			}
			o->log_level = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(EXIT_SUCCESS);
		case 'V':
			printf("vhostd %s (%s)\n", VHD_VERSION, rte_version());
			exit(EXIT_SUCCESS);
		default:
			usage(stderr, argv[0]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vhostd: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (o->config == NULL) {
		fprintf(stderr, "vhostd: no configuration file (use -c FILE; see --help)\n");
		return EXIT_USAGE;
	}
	return 0;
}

static void
rte_log_sink(enum vhd_log_level level, const char *component, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	rte_log((uint32_t)level, (uint32_t)g_logtype, "vhostd[%s]: %s\n", component, msg);
}

/* MiB of free hugepages of the default size, 0 when none or no hugetlbfs is mounted. */
static uint64_t
free_hugepage_mb(void)
{
	uint64_t free_pages = 0, page_kb = 0;
	bool mounted = false;
	char line[512];
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (f == NULL) {
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "HugePages_Free: %" SCNu64, &free_pages);
		sscanf(line, "Hugepagesize: %" SCNu64, &page_kb);
	}
	fclose(f);
	f = fopen("/proc/mounts", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			mounted |= strstr(line, " hugetlbfs ") != NULL;
		}
		fclose(f);
	}
	return mounted ? free_pages * page_kb / 1024 : 0;
}

struct eal_args {
	int argc;
	char *argv[MAX_EAL_ARGS];
	char lcores[4096];
	char main_lcore[16];
	char mem[32];
	char prefix[64];
	char log_level[16];
};

static void
add_arg(struct eal_args *a, char *arg)
{
	if (a->argc < MAX_EAL_ARGS - 1) {
		a->argv[a->argc++] = arg;
	}
}

/*
 * Worker lcore i runs on the i-th CPU of `cores`; the main lcore (signals, control) floats
 * over the control CPUs. lcore ids are dense so any CPU number works.
 */
static int
build_eal_args(const struct vhd_config *cfg, const cpu_set_t *control, struct eal_args *a,
	       unsigned int *cpus, unsigned int *ncpus)
{
	size_t off = 0;
	unsigned int n = 0;
	bool first = true;

	for (int cpu = vhd_cpumask_next(&cfg->cores, 0); cpu >= 0;
	     cpu = vhd_cpumask_next(&cfg->cores, (unsigned int)cpu + 1)) {
		if (n + 1 >= RTE_MAX_LCORE) {
			fprintf(stderr, "vhostd: %s: cores: at most %d polling cores are supported\n",
				cfg->path, RTE_MAX_LCORE - 1);
			return -E2BIG;
		}
		off += (size_t)snprintf(a->lcores + off, sizeof(a->lcores) - off, "%s%u@%d",
					n ? "," : "", n, cpu);
		cpus[n++] = (unsigned int)cpu;
	}
	off += (size_t)snprintf(a->lcores + off, sizeof(a->lcores) - off, ",%u@(", n);
	for (int cpu = 0; cpu < CPU_SETSIZE && off < sizeof(a->lcores); cpu++) {
		if (CPU_ISSET(cpu, control)) {
			off += (size_t)snprintf(a->lcores + off, sizeof(a->lcores) - off, "%s%d",
						first ? "" : ",", cpu);
			first = false;
		}
	}
	off += (size_t)snprintf(a->lcores + off, sizeof(a->lcores) - off, ")");
	if (off >= sizeof(a->lcores)) {
		return -E2BIG;
	}
	*ncpus = n;

	snprintf(a->main_lcore, sizeof(a->main_lcore), "%u", n);
	snprintf(a->mem, sizeof(a->mem), "%" PRIu64, cfg->hugemem_mb);
	snprintf(a->prefix, sizeof(a->prefix), "vhostd-%d", (int)getpid());
	snprintf(a->log_level, sizeof(a->log_level), "%d", (int)cfg->log_level);

	add_arg(a, "vhostd");
	add_arg(a, "--lcores");
	add_arg(a, a->lcores);
	add_arg(a, "--main-lcore");
	add_arg(a, a->main_lcore);
	add_arg(a, "-m");
	add_arg(a, a->mem);
	add_arg(a, "--file-prefix");
	add_arg(a, a->prefix);
	add_arg(a, "--log-level");
	add_arg(a, a->log_level);
	add_arg(a, "--no-pci");
	if (free_hugepage_mb() >= cfg->hugemem_mb) {
		add_arg(a, "--in-memory");
	} else {
		fprintf(stderr, "vhostd: warning: fewer than %" PRIu64 " MiB of free hugepages; "
				"running on ordinary memory (--no-huge). Reserve hugepages with "
				"scripts/setup.sh for better performance.\n", cfg->hugemem_mb);
		add_arg(a, "--no-huge");
		add_arg(a, "--no-shconf");
	}
	a->argv[a->argc] = NULL;
	return 0;
}

/* The CPUs helper threads may use: our initial affinity minus the polling cores. */
static int
control_cpus(const struct vhd_config *cfg, cpu_set_t *control)
{
	cpu_set_t initial;

	if (sched_getaffinity(0, sizeof(initial), &initial) != 0) {
		return -errno;
	}
	for (int cpu = vhd_cpumask_next(&cfg->cores, 0); cpu >= 0;
	     cpu = vhd_cpumask_next(&cfg->cores, (unsigned int)cpu + 1)) {
		if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &initial)) {
			fprintf(stderr, "vhostd: %s: cores: CPU %d is not available to this process\n",
				cfg->path, cpu);
			return -EINVAL;
		}
	}
	*control = initial;
	for (int cpu = vhd_cpumask_next(&cfg->cores, 0); cpu >= 0;
	     cpu = vhd_cpumask_next(&cfg->cores, (unsigned int)cpu + 1)) {
		CPU_CLR(cpu, control);
	}
	if (CPU_COUNT(control) == 0) {
		*control = initial;
	}
	return 0;
}

static void
print_attach_hint(const struct vhd_ctrlr_info *info, void *arg)
{
	const char *dev = info->type == VHD_CTRLR_BLK ? "vhost-user-blk-pci" :
							"vhost-user-scsi-pci";
	const char *nq = info->type == VHD_CTRLR_BLK ? "num-queues" : "num_queues";

	VHD_NOTICELOG("%s: listening on %s (cpu %u); attach with: -chardev socket,id=%s,path=%s "
		      "-device %s,chardev=%s,%s=%u (guest RAM must be share=on)", info->name,
		      info->socket, info->cpu, info->name, info->socket, dev, info->name, nq,
		      info->num_queues);
}

static int
wait_for_stop(void)
{
	sigset_t set;
	siginfo_t si;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	for (;;) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, &si, &tick);

		if (sig < 0) {
			vhd_transport_tick();
			continue;
		}

		if (sig == SIGINT || sig == SIGTERM) {
			VHD_NOTICELOG("%s: finishing in-flight I/O and shutting down",
				      sig == SIGINT ? "SIGINT" : "SIGTERM");
			return 0;
		}
		if (sig == SIGHUP) {
			VHD_WARNLOG("SIGHUP: configuration reload is not implemented yet; ignored");
		}
	}
}

int
main(int argc, char **argv)
{
	struct options opts = {0};
	struct vhd_diag diag = {0};
	struct vhd_config *cfg = NULL;
	struct eal_args eal = {0};
	unsigned int cpus[RTE_MAX_LCORE], ncpus = 0;
	char err[VHD_ERR_MAX];
	cpu_set_t control;
	sigset_t sigs;
	int rc;

	/*
	 * Block the signals we wait for before any thread exists, so all inherit the mask. A
	 * shell starts background jobs with SIGINT ignored, and an ignored signal is discarded
	 * even while blocked, so restore the default action first.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = parse_args(argc, argv, &opts);
	if (rc != 0) {
		return rc;
	}
	rc = vhd_config_load(opts.config, &cfg, &diag);
	if (rc != 0) {
		fputs(diag.text != NULL ? diag.text : "vhostd: cannot load the configuration\n",
		      stderr);
		vhd_diag_free(&diag);
		return EXIT_FAILURE;
	}
	if (opts.log_level != NULL) {
		vhd_log_level_parse(opts.log_level, &cfg->log_level);
	}
	vhd_log_set_level(cfg->log_level);
	if (opts.check) {
		printf("%s: OK (%u backends, %u controllers)\n", opts.config, cfg->nbackends,
		       cfg->ncontrollers);
		vhd_config_free(cfg);
		return EXIT_SUCCESS;
	}

	if (control_cpus(cfg, &control) != 0 ||
	    build_eal_args(cfg, &control, &eal, cpus, &ncpus) != 0) {
		vhd_config_free(cfg);
		return EXIT_FAILURE;
	}
	vhd_thread_set_control_cpus(&control);
	rte_openlog_stream(stderr);
	if (rte_eal_init(eal.argc, eal.argv) < 0) {
		fprintf(stderr, "vhostd: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		vhd_config_free(cfg);
		return EXIT_FAILURE;
	}
	g_logtype = rte_log_register_type_and_pick_level("vhostd", (uint32_t)cfg->log_level);
	if (g_logtype >= 0) {
		rte_log_set_level((uint32_t)g_logtype, (uint32_t)cfg->log_level);
		vhd_log_set_sink(rte_log_sink);
	}
	vhd_tsc_hz();

	rc = vhd_workers_start(cpus, ncpus, cfg->idle_sleep_us);
	if (rc != 0) {
		VHD_ERRLOG("cannot start the polling workers: %s", strerror(-rc));
		goto out_eal;
	}
	vhd_transport_init();
	vhd_ctrl_init(cfg);
	rc = vhd_ctrl_apply_config(cfg, err, sizeof(err));
	if (rc != 0) {
		VHD_ERRLOG("%s: %s", cfg->path, err);
		goto out_workers;
	}
	vhd_ctrl_foreach_ctrlr(print_attach_hint, NULL);
	VHD_NOTICELOG("vhostd %s ready: %u polling cores, %u backends, %u controllers",
		      VHD_VERSION, ncpus, cfg->nbackends, cfg->ncontrollers);
	vhd_sd_notify("READY=1");

	rc = wait_for_stop();
	vhd_sd_notify("STOPPING=1");
	vhd_ctrl_shutdown();

out_workers:
	vhd_transport_fini();
	vhd_workers_stop();
out_eal:
	VHD_NOTICELOG("stopped");
	vhd_log_set_sink(NULL);
	rte_eal_cleanup();
	vhd_config_free(cfg);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
