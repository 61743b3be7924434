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
#include <sys/socket.h>
#include <sys/un.h>
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
#include "vhostd/rpc.h"
#include "vhostd/sdnotify.h"
#include "vhostd/thread.h"
#include "vhostd/transport.h"
#include "vhostd/unix_socket.h"
#include "vhostd/worker.h"

#define EXIT_USAGE 2
#define MAX_EAL_ARGS 32

struct options {
	const char *config;
	const char *log_level;
	const char *rpc_socket;
	const char *instance;
	bool check;
};

static int g_logtype = -1;
static bool g_log_level_fixed; /* -l given: reload does not change the level */

static void
usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: %s -c FILE [options]\n"
		"User-space vhost-user storage target: virtio-blk and virtio-scsi disks for VMs.\n"
		"\n"
		"  -c, --config FILE      configuration file (YAML, see docs/config.md)\n"
		"      --check            validate the configuration and exit\n"
		"  -l, --log-level LEVEL  error|warning|notice|info|debug (overrides log_level)\n"
		"  -r, --rpc-socket PATH  JSON-RPC control socket (overrides rpc_socket;\n"
		"                         default /var/tmp/vhostd.sock; see docs/rpc.md)\n"
		"      --instance NAME    instance name and DPDK file prefix (overrides instance;\n"
		"                         default: the rpc socket's file name without .sock);\n"
		"                         statistics: dpdk-telemetry.py -f NAME\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT finish in-flight I/O, remove the sockets and exit.\n"
		"         SIGHUP re-reads the configuration file and applies the difference.\n",
		prog);
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'C'},
		{"log-level", required_argument, NULL, 'l'},
		{"rpc-socket", required_argument, NULL, 'r'},
		{"instance", required_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	enum vhd_log_level level;
	char why[VHD_ERR_MAX];
	int c;

	while ((c = getopt_long(argc, argv, "c:l:r:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'l':
			if (vhd_log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "vhostd: invalid log level '%s' (use error, "
					"warning, notice, info or debug)\n", optarg);
				return EXIT_USAGE;
			}
			o->log_level = optarg;
			break;
		case 'r':
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
				fprintf(stderr, "vhostd: --rpc-socket: '%s' must be an absolute "
						"path of at most %zu characters\n", optarg,
					sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
				return EXIT_USAGE;
			}
			o->rpc_socket = optarg;
			break;
		case 'I':
			if (vhd_config_check_name(optarg, why, sizeof(why)) != 0) {
				fprintf(stderr, "vhostd: --instance: %s\n", why);
				return EXIT_USAGE;
			}
			o->instance = optarg;
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
	char prefix[VHD_NAME_MAX + 1];
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
build_eal_args(const struct vhd_config *cfg, const char *instance, enum vhd_log_level level,
	       const cpu_set_t *control, struct eal_args *a, unsigned int *cpus,
	       unsigned int *ncpus)
{
	size_t off = 0;
	unsigned int n = 0;
	bool first = true;

	for (int cpu = vhd_cpumask_next(&cfg->cores, 0); cpu >= 0;
	     cpu = vhd_cpumask_next(&cfg->cores, (unsigned int)cpu + 1)) {
		if (n + 1 >= RTE_MAX_LCORE) {
			fprintf(stderr, "vhostd: %s: cores: at most %d polling cores are "
				"supported\n", cfg->path, RTE_MAX_LCORE - 1);
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
	/* The instance name, so operators can find the telemetry socket: dpdk-telemetry.py -f. */
	snprintf(a->prefix, sizeof(a->prefix), "%s", instance);
	snprintf(a->log_level, sizeof(a->log_level), "%d", (int)level);

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
			fprintf(stderr, "vhostd: %s: cores: CPU %d is not available to this "
				"process\n", cfg->path, cpu);
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

/* Where EAL puts this instance's runtime files (its telemetry socket among them). */
static void
eal_runtime_dir(const char *prefix, char *buf, size_t len)
{
	const char *base = "/var/run";

	if (getuid() != 0) {
		base = getenv("XDG_RUNTIME_DIR") != NULL ? getenv("XDG_RUNTIME_DIR") : "/tmp";
	}
	snprintf(buf, len, "%s/dpdk/%s", base, prefix);
}

/* Is another live process using this file prefix (its telemetry socket answers)? */
static bool
instance_running(const char *prefix, char *sock, size_t len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	bool live;
	int fd;

	eal_runtime_dir(prefix, dir, sizeof(dir));
	if (snprintf(sock, len, "%s/dpdk_telemetry.v2", dir) >= (int)len ||
	    vhd_strlcpy(addr.sun_path, sock, sizeof(addr.sun_path)) != 0) {
		return false;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return false;
	}
	live = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return live;
}

static bool
apply_log_level(enum vhd_log_level level)
{
	if (g_log_level_fixed) {
		return false;
	}
	vhd_log_set_level(level);
	rte_log_set_global_level((uint32_t)level);
	if (g_logtype >= 0) {
		rte_log_set_level((uint32_t)g_logtype, (uint32_t)level);
	}
	return true;
}

static void
print_attach_hint(const struct vhd_ctrlr_info *info, void *arg);

/* SIGHUP: re-read the file, apply the difference, log what happened to each object. */
static void
reload(const char *path)
{
	struct vhd_reload_report rep;
	unsigned int changes = 0;
	int rc;

	VHD_NOTICELOG("SIGHUP: reloading %s", path);
	rc = vhd_ctrl_reload(&rep);
	if (rc != 0) {
		char *line = rep.diag, *next;

		VHD_ERRLOG("%s: not reloaded, nothing changed%s", path,
			   rep.diag != NULL ? ":" : "");
		for (; line != NULL && *line != '\0'; line = next) {
			next = strchr(line, '\n');
			if (next != NULL) {
				*next++ = '\0';
			}
			VHD_ERRLOG("  %s", line);
		}
		if (rep.diag == NULL) {
			VHD_ERRLOG("%s: %s", path, strerror(-rc));
		}
		vhd_reload_report_free(&rep);
		return;
	}
	for (unsigned int i = 0; i < rep.nitems; i++) {
		const struct vhd_reload_item *it = &rep.items[i];
		const char *kind = vhd_reload_kind_name(it->kind);

		switch (it->action) {
		case VHD_RELOAD_UNCHANGED:
			VHD_INFOLOG("%s '%s': %s", kind, it->name, it->message);
			continue;
		case VHD_RELOAD_KEPT:
		case VHD_RELOAD_RESTART:
			VHD_WARNLOG("%s '%s': %s", kind, it->name, it->message);
			continue;
		case VHD_RELOAD_FAILED:
			VHD_ERRLOG("%s '%s': %s", kind, it->name, it->message);
			continue;
		default:
			changes++;
			VHD_NOTICELOG("%s '%s': %s", kind, it->name, it->message);
			break;
		}
		if (it->kind == VHD_RELOAD_CONTROLLER && (it->action == VHD_RELOAD_CREATED ||
							  it->action == VHD_RELOAD_REPLACED)) {
			vhd_ctrl_visit_ctrlr(it->name, print_attach_hint, NULL);
		}
	}
	VHD_NOTICELOG("%s reloaded: %u changes, %u refused", path, changes, rep.nrefused);
	vhd_reload_report_free(&rep);
}

static int
wait_for_stop(const char *config_path)
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
			reload(config_path);
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
	struct vhd_rpc_server *rpc = NULL;
	unsigned int cpus[RTE_MAX_LCORE], ncpus = 0;
	char err[VHD_ERR_MAX], instance[VHD_NAME_MAX + 1], telemetry[PATH_MAX], rundir[PATH_MAX];
	bool path_ok;
	const char *rpc_path;
	enum vhd_log_level level;
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
	/* The command line wins over the file; cfg keeps the file's values (reload compares). */
	level = cfg->log_level;
	if (opts.log_level != NULL) {
		vhd_log_level_parse(opts.log_level, &level);
		g_log_level_fixed = true;
	}
	vhd_log_set_level(level);
	rpc_path = opts.rpc_socket != NULL ? opts.rpc_socket : cfg->rpc_socket;
	if (opts.instance != NULL) {
		(void)vhd_strlcpy(instance, opts.instance, sizeof(instance));
	} else {
		vhd_config_instance(cfg->instance, rpc_path, instance, sizeof(instance));
	}
	if (opts.check) {
		printf("%s: OK (%u backends, %u controllers)\n", opts.config, cfg->nbackends,
		       cfg->ncontrollers);
		vhd_config_free(cfg);
		return EXIT_SUCCESS;
	}

	/* Refuse to start next to a live instance before anything is created. */
	rc = vhd_unix_socket_clear_stale(rpc_path);
	if (rc != 0) {
		fprintf(stderr, "vhostd: control socket %s: %s\n", rpc_path,
			rc == -EADDRINUSE ? "another process listens on it (is vhostd already "
					    "running? use -r PATH or rpc_socket)" :
			rc == -EEXIST ? "exists and is not a socket" : strerror(-rc));
		vhd_config_free(cfg);
		return EXIT_FAILURE;
	}
	if (instance_running(instance, telemetry, sizeof(telemetry))) {
		fprintf(stderr, "vhostd: instance '%s' is already running (%s answers); give this "
				"one another name with --instance or the instance key\n", instance,
			telemetry);
		vhd_config_free(cfg);
		return EXIT_FAILURE;
	}
	if (control_cpus(cfg, &control) != 0 ||
	    build_eal_args(cfg, instance, level, &control, &eal, cpus, &ncpus) != 0) {
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
	g_logtype = rte_log_register_type_and_pick_level("vhostd", (uint32_t)level);
	if (g_logtype >= 0) {
		rte_log_set_level((uint32_t)g_logtype, (uint32_t)level);
		vhd_log_set_sink(rte_log_sink);
	}
	vhd_tsc_hz();

	rc = vhd_workers_start(cpus, ncpus, cfg->idle_sleep_us);
	if (rc != 0) {
		VHD_ERRLOG("cannot start the polling workers: %s", strerror(-rc));
		goto out_eal;
	}
	vhd_transport_init();
	rc = vhd_ctrl_init(cfg);
	if (rc != 0) {
		VHD_ERRLOG("cannot start the control plane: %s", strerror(-rc));
		goto out_workers;
	}
	vhd_ctrl_set_log_level_hook(apply_log_level);
	rc = vhd_ctrl_apply_config(cfg, err, sizeof(err));
	if (rc != 0) {
		VHD_ERRLOG("%s: %s", cfg->path, err);
		goto out_workers;
	}
	vhd_rpc_set_daemon_info(&(struct vhd_rpc_daemon_info){
		.instance = instance,
		.rpc_socket = rpc_path,
		.config = cfg->path,
	});
	rc = vhd_rpc_server_start(rpc_path, vhd_rpc_dispatcher(), &rpc);
	if (rc != 0) {
		VHD_ERRLOG("control socket %s: %s", rpc_path, strerror(-rc));
		vhd_ctrl_shutdown();
		goto out_workers;
	}
	rc = vhd_rpc_telemetry_init();
	if (rc != 0) {
		VHD_WARNLOG("telemetry commands not registered: %s", strerror(-rc));
	}
	vhd_ctrl_foreach_ctrlr(print_attach_hint, NULL);
	VHD_NOTICELOG("control socket %s; statistics: dpdk-telemetry.py -f %s", rpc_path,
		      instance);
	VHD_NOTICELOG("vhostd %s ready: %u polling cores, %u backends, %u controllers",
		      VHD_VERSION, ncpus, cfg->nbackends, cfg->ncontrollers);
	vhd_sd_notify("READY=1");

	rc = wait_for_stop(cfg->path);
	vhd_sd_notify("STOPPING=1");
	/* No request may run while the controllers go away. */
	vhd_rpc_server_stop(rpc);
	vhd_ctrl_shutdown();

out_workers:
	vhd_transport_fini();
	vhd_workers_stop();
out_eal:
	VHD_NOTICELOG("stopped");
	vhd_log_set_sink(NULL);
	/*
	 * EAL leaves its runtime directory, and unlinks the telemetry socket in it only at exit.
	 * The instance name is ours alone, so remove both now (rmdir only if nothing else is
	 * there); otherwise every instance name ever used would leave a directory behind.
	 */
	path_ok = vhd_strlcpy(rundir, rte_eal_get_runtime_dir(), sizeof(rundir)) == 0;
	rte_eal_cleanup();
	if (path_ok && snprintf(telemetry, sizeof(telemetry), "%s/dpdk_telemetry.v2", rundir) <
			       (int)sizeof(telemetry)) {
		unlink(telemetry);
		rmdir(rundir);
	}
	vhd_config_free(cfg);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
